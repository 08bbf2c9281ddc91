"""Hot-path unpacking derived from the construct layouts.

The construct Structs in the codec modules are the single statement of each
header's layout (and what tests and tools read). Parsing through construct
costs a stream, a Container and a call per field; for the fixed-size,
integer-only headers decoded on every frame, :func:`unpacker` derives one
``struct.Struct`` from the construct definition at import time, so the
layout is still written once and the hot path costs one C call. A test
checks both parse every byte string the same way.
"""

from __future__ import annotations

import struct
from typing import Any


def _fields(layout: Any) -> list[tuple[str, str]]:
    inner = getattr(layout, "defersubcon", layout)  # a compiled Struct wraps the original
    out = []
    for sub in inner.subcons:
        fmt = getattr(sub.subcon, "fmtstr", None)
        if fmt is None or fmt[0] != "<":
            raise TypeError(f"field {sub.name!r} is not a little-endian fixed-size integer")
        out.append((sub.name, fmt[1:]))
    return out


def unpacker(layout: Any) -> struct.Struct:
    """One ``struct.Struct`` that unpacks the whole construct ``layout`` in field order."""
    return struct.Struct("<" + "".join(fmt for _, fmt in _fields(layout)))


def field_names(layout: Any) -> tuple[str, ...]:
    return tuple(name for name, _ in _fields(layout))
