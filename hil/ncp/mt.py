"""Z-Stack Monitor and Test (MT) framing on the NCP's side of the wire.

A byte stream from the host becomes requests, and commands become bytes,
with zigpy-znp's own frame and command classes (``zigpy_znp.frames``,
``zigpy_znp.commands``), so the two ends cannot disagree about a layout. A
broken frame (bad start byte, length, checksum) is reported with what was
wrong and where it sat in the stream, then skipped up to the next start of
frame, as a real NCP's UART driver resynchronises.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import zigpy_znp.commands as c
import zigpy_znp.types as t
from zigpy_znp.exceptions import InvalidFrame
from zigpy_znp.frames import GeneralFrame, TransportFrame

SOF = 0xFE
#: SOF, length, two command bytes and the checksum: the shortest frame.
MIN_FRAME = 5
MAX_DATA = 250


class MtError(ValueError):
    """A frame or request the NCP cannot use; says what and where."""


@dataclass(frozen=True, slots=True)
class StreamFault:
    """One stretch of the stream that was dropped, and why."""

    offset: int
    reason: str


class MtDecoder:
    """Splits the host's byte stream into MT frames, reporting and skipping bad bytes."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        #: Bytes consumed so far: the stream offset of ``_buffer[0]``.
        self._consumed = 0
        self.faults: list[StreamFault] = []

    def feed(self, data: bytes) -> Iterator[GeneralFrame]:
        self._buffer += data
        while True:
            start = self._buffer.find(SOF)
            if start < 0:
                if self._buffer:
                    self._fault(0, f"{len(self._buffer)} byte(s) with no start of frame")
                    self._drop(len(self._buffer))
                return
            if start > 0:
                self._fault(0, f"{start} byte(s) before the start of frame")
                self._drop(start)
            if len(self._buffer) < MIN_FRAME:
                return
            length = self._buffer[1]
            if length > MAX_DATA:
                self._fault(1, f"length {length} exceeds {MAX_DATA}")
                self._drop(1)
                continue
            if len(self._buffer) < length + MIN_FRAME:
                return
            raw = bytes(self._buffer[: length + MIN_FRAME])
            try:
                frame, _ = TransportFrame.deserialize(raw)
            except InvalidFrame as exc:
                self._fault(length + 4, f"bad frame ({exc})")
                self._drop(1)
                continue
            self._drop(len(raw))
            yield frame.payload

    def _fault(self, at: int, reason: str) -> None:
        self.faults.append(StreamFault(self._consumed + at, reason))
        del self.faults[:-20]

    def _drop(self, count: int) -> None:
        del self._buffer[:count]
        self._consumed += count


def parse_request(frame: GeneralFrame) -> t.CommandBase:
    """The request a frame carries; MtError names the command and the problem."""
    command_cls = c.COMMANDS_BY_ID.get(frame.header)
    if command_cls is None:
        raise MtError(f"unknown MT command {frame.header}")
    if frame.header.type != t.CommandType.SREQ and frame.header.type != t.CommandType.AREQ:
        raise MtError(f"{command_cls.__qualname__} is not a request")
    try:
        return command_cls.from_frame(frame, align=True)
    except (ValueError, KeyError) as exc:
        raise MtError(f"{command_cls.__qualname__}: malformed data {bytes(frame.data).hex()} "
                      f"({exc})") from None


def encode(command: t.CommandBase) -> bytes:
    """One command as bytes on the wire (CC26x2 layout: aligned structs)."""
    return TransportFrame(command.to_frame(align=True)).serialize()


def not_recognised(frame: GeneralFrame, code: c.rpc_error.ErrorCode) -> t.CommandBase:
    return c.RPCError.CommandNotRecognized.Rsp(ErrorCode=code, RequestHeader=frame.header)
