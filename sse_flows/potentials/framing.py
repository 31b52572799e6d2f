"""The framed pipe between a job and its model worker: length-prefixed JSON messages.

Each message is a 4-byte big-endian length and that many bytes of UTF-8 JSON. Arrays
travel as their raw float64/int64 bytes in base64 (exact, no decimal round trip). Only
the standard library and numpy are used: the worker runs in another environment.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import IO, Any

import numpy as np

HEADER = struct.Struct(">I")


def pack_array(array: Any, dtype: str = "float64") -> dict[str, Any]:
    """Pack an array as JSON-ready fields (dtype, shape, base64 of its bytes)."""
    data = np.ascontiguousarray(array, dtype=dtype)
    return {
        "dtype": dtype,
        "shape": list(data.shape),
        "b64": base64.b64encode(data.tobytes()).decode("ascii"),
    }


def unpack_array(fields: dict[str, Any]) -> np.ndarray:
    """Return the array :func:`pack_array` packed."""
    raw = base64.b64decode(fields["b64"])
    return np.frombuffer(raw, dtype=fields["dtype"]).reshape(fields["shape"]).copy()


def send(stream: IO[bytes], message: dict[str, Any]) -> None:
    """Write one message and flush."""
    body = json.dumps(message).encode()
    stream.write(HEADER.pack(len(body)) + body)
    stream.flush()


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def receive(stream: IO[bytes]) -> dict[str, Any] | None:
    """Read one message; None when the other side closed the pipe."""
    head = _read_exactly(stream, HEADER.size)
    if head is None:
        return None
    body = _read_exactly(stream, HEADER.unpack(head)[0])
    if body is None:
        return None
    message: dict[str, Any] = json.loads(body)
    return message
