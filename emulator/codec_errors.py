"""The one error type every frame decoder raises, with where it went wrong.

Offsets have one origin: the ``base`` the caller handed the decoder.
Every decoder that takes ``base`` reports ``base`` + the position in the
bytes it was given, for every kind of error (truncation, a bad version or
frame control, a failed MIC, an unknown data type). A caller that chains
layers and passes each one the position of its first byte in the 802.15.4
frame therefore gets offsets into that frame; with the default ``base=0`` an
offset is a position in the bytes passed to the decoder. The 802.15.4
decoder has no ``base``: its bytes are the frame. Decoders without a
``base`` parameter (the SE payload parsers) report positions in their input.

Inside a decoder, every error is raised with its position in the decoder's
own bytes (:func:`need` knows nothing of ``base``) and the decoder adds
``base`` once, on the way out, in an ``except CodecError`` around its body.
That keeps a single place per decoder that knows the origin and costs
nothing when a frame decodes: since Python 3.11 a ``try`` block is free
until something is raised, whereas threading ``base`` through every
:func:`need` call would add work to each field of each good frame.
"""

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
        #: What was decoded before the error, when that is worth showing: a
        #: secured frame whose key is unknown still has readable headers.
        self.partial: object | None = None

    def shift(self, base: int) -> None:
        """Move the offset from the decoder's own bytes to the caller's origin.

        Called once per decoder, by the ``except`` at its boundary, so an
        error raised deep in a layer is rebased exactly once; the message is
        rebuilt so ``str(error)`` and ``offset`` never disagree.
        """
        if base:
            self.offset += base
            self.args = (f"{self.layer} at byte {self.offset}: {self.reason}",)


def need(layer: str, data: bytes | memoryview, offset: int, count: int, what: str) -> None:
    """Raise a truncation error unless ``count`` bytes remain at ``offset``.

    The offset is in ``data``'s own bytes; the calling decoder rebases it
    (see the module docstring), so the success path passes no ``base``.
    """
    if len(data) - offset < count:
        raise CodecError(
            layer, offset, f"truncated {what}: needs {count} bytes, {len(data) - offset} left"
        )
