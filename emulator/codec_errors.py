"""The one error type every frame decoder raises, with where it went wrong."""

from __future__ import annotations


class CodecError(ValueError):
    """Malformed or unsupported bytes: names the layer and the byte offset.

    A single type lets the medium and the capture tap catch every decoding
    fault in one place, log it with its position, and carry on with the next
    frame instead of losing the run.
    """

    def __init__(self, layer: str, offset: int, reason: str) -> None:
        super().__init__(f"{layer} at byte {offset}: {reason}")
        self.layer = layer
        self.offset = offset
        self.reason = reason


def need(layer: str, data: bytes | memoryview, offset: int, count: int, what: str) -> None:
    """Raise a truncation error unless ``count`` bytes remain at ``offset``."""
    if len(data) - offset < count:
        raise CodecError(
            layer, offset, f"truncated {what}: needs {count} bytes, {len(data) - offset} left"
        )
