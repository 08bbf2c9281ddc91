"""Every CodecError offset has one origin: the ``base`` the caller gave the decoder.

Truncation errors (raised by ``codec_errors.need``) used to ignore ``base``
while version, security-control and MIC errors added it, so two errors in
the same frame could count from different bytes. Each case below fails one
decoder in one way and checks that moving ``base`` moves the offset by
exactly that much, whatever kind of error it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from codec_helpers import (
    KEY,
    OTHER_KEY,
    expect_codec_error,
    install_code_keys,
    sample_nwk,
    sample_transport_key,
)
from s1bench.emulator import aps, nwk, zcl, zdo

_SECURED = sample_nwk().encode(KEY)
_UNSECURED = sample_nwk(secured=False).encode()
_TK = sample_transport_key()[1]
_KTK = install_code_keys()[1]
_BAD_VERSION = bytes([_UNSECURED[0] & ~0x3C]) + _UNSECURED[1:]
_READ_RSP = zcl.read_attributes_response([(0x0000, 0, zcl.UINT8, 7)])

#: (layer, decoder, positional args, kind of failure)
CASES: list[tuple[str, Callable[..., Any], tuple[Any, ...], str]] = [
    ("zbee_nwk", nwk.NwkFrame.decode, (_SECURED[:5], KEY), "truncated fixed header"),
    ("zbee_nwk", nwk.NwkFrame.decode, (_SECURED[:12], KEY), "truncated IEEE address"),
    ("zbee_nwk", nwk.NwkFrame.decode, (_SECURED[:20], KEY), "truncated aux header"),
    ("zbee_nwk", nwk.NwkFrame.decode, (_BAD_VERSION, KEY), "protocol version"),
    ("zbee_nwk", nwk.NwkFrame.decode, (_SECURED, OTHER_KEY), "MIC"),
    ("zbee_nwk", nwk.NwkFrame.decode, (_SECURED, None), "no key"),
    ("zbee_aps", aps.decode, (b"\x01",), "truncated frame control"),
    ("zbee_aps", aps.decode, (_TK[:10], _KTK), "truncated aux header"),
    ("zbee_aps", aps.decode, (_TK, OTHER_KEY), "MIC"),
    ("zbee_aps", aps.decode, (bytes([0x03, 0]),), "frame type"),
    ("zbee_aps", aps.parse_transport_key, (bytes(10),), "truncated Transport Key"),
    ("zbee_zdp", zdo.ZdoMessage.decode, (zdo.DEVICE_ANNCE, bytes(5)), "truncated annce"),
    ("zbee_zdp", zdo.ZdoMessage.decode, (0x0005, b"\x01"), "unsupported cluster"),
    ("zbee_zcl", zcl.ZclFrame.decode, (b"\x04\x00\x00",), "truncated manufacturer header"),
    ("zbee_zcl", zcl.ZclFrame.decode, (b"\x03\x00\x00",), "reserved frame type"),
    ("zbee_zcl", zcl.decode_value, (zcl.UINT32, b"\x00\x01\x02", 1), "truncated value"),
    ("zbee_zcl", zcl.decode_value, (0xFF, b"\x00\x01", 1), "unknown type"),
    ("zbee_zcl", zcl.parse_read_attributes_response, (_READ_RSP + b"\x01\x00\x00\x23\x01",),
     "truncated value in a record"),
    ("zbee_zcl", zcl.parse_read_attributes_response, (_READ_RSP + b"\x01\x00\x00\xFF",),
     "unknown type in a record"),
    ("zbee_zcl", zcl.parse_read_attributes, (b"\x00\x00\x01",), "odd length"),
    ("zbee_zcl", zcl.parse_write_attributes, (b"\x01\x00",), "truncated record"),
    ("zbee_zcl", zcl.parse_write_attributes_response, (b"\x01\x00",), "bad record length"),
    ("zbee_zcl", zcl.parse_default_response, (b"\x0e",), "truncated"),
]


@pytest.mark.parametrize("layer, decoder, args, kind", CASES, ids=[c[3] for c in CASES])
@pytest.mark.parametrize("base", [9, 37])
def test_every_offset_moves_with_base(layer: str, decoder: Callable[..., Any],
                                      args: tuple[Any, ...], kind: str, base: int) -> None:
    local = expect_codec_error(layer, decoder, *args)
    framed = expect_codec_error(layer, decoder, *args, base=base)
    assert framed.offset == local.offset + base, kind
    data = next(a for a in args if isinstance(a, bytes))
    assert 0 <= local.offset <= len(data), kind  # without a base: a position in the input
    assert str(framed).startswith(f"{layer} at byte {framed.offset}:")
    assert framed.reason == local.reason


def test_nested_value_errors_are_rebased_once() -> None:
    """A record parser calls decode_value; the offset must not gain ``base`` twice."""
    payload = _READ_RSP + b"\x01\x00\x00\xFF"
    err = expect_codec_error("zbee_zcl", zcl.parse_read_attributes_response, payload, 50)
    assert err.offset == 50 + len(_READ_RSP) + 3  # the type byte of the second record
