"""Coverage-guided fuzzing of the HAN frame codec (atheris, libFuzzer's engine).

Run by ``make fuzz-codec``: ``python tests/fuzz/codec_atheris.py -runs=N``. Every
input goes through ``s1bench pcap show``'s whole-frame decoder (MAC, NWK,
APS, ZDP/ZCL, with a key that opens it) and, chosen by the input's first
byte, one layer's decoder directly. Random bytes rarely carry a MIC that a
key opens, so half the inputs are sealed first under the test key as a
secured NWK frame (or an APS-secured frame): the decryption succeeds and the
fuzzer's bytes reach the layers inside, where a real frame's do.

The property is the codec's contract: a decoder raises only
:class:`~s1bench.emulator.codec_errors.CodecError` (the medium and ``pcap
show`` catch it per frame) whatever the bytes. Anything else escapes, and
libFuzzer reports it as a crash with the input that caused it. The seed
corpus is every frame of the captures in ``captures/``, so mutation starts
from real traffic.
"""

from __future__ import annotations

import contextlib
import struct
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from s1bench.emulator import aps, mac, nwk, se, zcl, zdo
    from s1bench.emulator.codec_errors import CodecError
    from s1bench.harness.cli_pcap import FrameDecoder, read_pcap

KEY = bytes.fromhex("D5B0FA35205689C01C537AAC93E6D9ED")
SENDER = 0x00DB120000000003
_DECODER = FrameDecoder([KEY])
_RAW_DECODER = FrameDecoder([KEY], with_fcs=False)
_ZDO_CLUSTERS = sorted(zdo.NAMES)


def _sealed_nwk(payload: bytes, counter: int) -> bytes:
    """A MAC data frame holding a NWK frame secured under KEY around ``payload``."""
    frame = nwk.NwkFrame(nwk.FRAME_DATA, 0x0000, 0x0100, 30, counter & 0xFF, payload,
                         src_ieee=SENDER, secured=True, frame_counter=counter,
                         sec_source=SENDER, key_seq=0)
    return mac.MacFrame(counter & 0xFF, 0x1234, 0x0000, 0x0100, frame.encode(KEY)).encode()


def _one(data: bytes) -> None:
    if len(data) < 2:
        _DECODER.decode(0, 0.0, data)
        return
    selector, body = data[0], data[1:]
    which = selector & 0x0F
    if which == 0:
        _DECODER.decode(0, 0.0, body)
    elif which == 1:
        _RAW_DECODER.decode(0, 0.0, body)
    elif which == 2:
        # The fuzzer's bytes as the plaintext of a secured NWK frame: APS and up.
        _DECODER.decode(0, 0.0, _sealed_nwk(body, selector))
    elif which == 3:
        # An APS data frame secured with a link key around the fuzzer's ZCL bytes.
        inner = aps.ApsData(1, struct.unpack_from("<H", body + b"\0\0")[0], aps.PROFILE_SE, 1,
                            selector, body[2:],
                            security=aps.ApsSecurity(aps.KEY_ID_DATA, selector, SENDER))
        _DECODER.decode(0, 0.0, _sealed_nwk(inner.encode(KEY, SENDER), selector))
    elif which == 4:
        nwk.NwkFrame.decode(body, KEY)
    elif which == 5:
        aps.decode(body, KEY, source_ieee=SENDER)
    elif which == 6:
        zcl.ZclFrame.decode(body)
    elif which == 7:
        cluster = _ZDO_CLUSTERS[body[0] % len(_ZDO_CLUSTERS)]
        zdo.ZdoMessage.decode(cluster, body[1:])
    elif which == 8:
        mac.parse_beacon(body)
        mac.parse_zigbee_beacon(body)
    elif which == 9:
        aps.parse_transport_key(body)
    else:
        zcl.parse_read_attributes_response(body)
        zcl.parse_write_attributes_response(body)
        se.parse_transfer_data(body)


def test_one_input(data: bytes) -> None:
    with contextlib.suppress(CodecError):
        _one(data)


def _seed_corpus(directory: Path) -> None:
    """Write every captured frame as a seed input, once per whole-frame selector."""
    directory.mkdir(parents=True, exist_ok=True)
    captures = sorted((Path(__file__).resolve().parents[2] / "captures").glob("*.pcap"))
    count = 0
    for path in captures:
        for _, raw in read_pcap(path).frames:
            for selector in (0, 2):
                (directory / f"seed-{count:05d}").write_bytes(bytes([selector]) + raw)
                count += 1


def main(argv: list[str]) -> int:
    """libFuzzer's own arguments; positional ones are corpus directories, the first seeded."""
    dirs = [a for a in argv[1:] if not a.startswith("-")]
    if not dirs:
        dirs = ["out/fuzz/codec-corpus"]
        argv = [*argv, dirs[0]]
    corpus = Path(dirs[0])
    if not any(corpus.glob("seed-*")):
        _seed_corpus(corpus)
    # libFuzzer ends the process itself and counts the inputs it ran
    # (-print_final_stats=1 prints stat::number_of_executed_units).
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
