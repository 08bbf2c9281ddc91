"""The hot-path unpackers agree with the construct layouts they are derived from."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from s1bench.emulator import aps, mac, nwk
from s1bench.emulator.layout import field_names, unpacker

LAYOUTS = {"mac header": mac._HEADER, "nwk fixed": nwk._FIXED, "nwk aux": nwk._AUX,
           "aps data": aps._DATA}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_sizes_match(name: str) -> None:
    assert unpacker(LAYOUTS[name]).size == LAYOUTS[name].sizeof()


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@given(data=st.binary(min_size=13, max_size=13))
def test_unpacker_parses_like_construct(name: str, data: bytes) -> None:
    layout = LAYOUTS[name]
    raw = data[: layout.sizeof()]
    parsed = layout.parse(raw)
    fast = unpacker(layout).unpack(raw)
    assert fast == tuple(parsed[f] for f in field_names(layout))


@given(data=st.binary(max_size=130))
def test_fast_fcs_equals_the_bitwise_definition(data: bytes) -> None:
    assert mac.fcs_fast(data) == mac.fcs(data)


@given(data=st.binary(max_size=64), init=st.integers(0, 0xFFFF))
def test_reflected_crc_matches_its_bitwise_definition(data: bytes, init: int) -> None:
    from s1bench.emulator.crc import crc16_reflected, crc16_reflected_bitwise

    assert crc16_reflected(data, init) == crc16_reflected_bitwise(data, init)
