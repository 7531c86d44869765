"""Take a checkpoint file apart and put it back together edited: the safetensors header as
JSON, rnngen's metadata documents, and the checksum recomputed so an edit reaches the
validators behind it (as a deliberate forger's would)."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

from safetensors.torch import load as load_tensors

from rnngen.checkpoint import CHECKSUM_KEY, content_digest


def split(data: bytes) -> tuple[dict, bytes]:
    """(the header as JSON, the tensor bytes after it)."""
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def join(header: dict | bytes, payload: bytes) -> bytes:
    """A safetensors file from a header (a JSON object, or raw header bytes) and tensor bytes."""
    raw = header if isinstance(header, bytes) else json.dumps(header, allow_nan=True).encode()
    return struct.pack("<Q", len(raw)) + raw + payload


def reseal(header: dict, original: bytes) -> dict:
    """Recompute the checksum of ``header``'s metadata over ``original``'s tensors."""
    meta = header.get("__metadata__")
    if isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values()):
        meta[CHECKSUM_KEY] = json.dumps({"sha256": content_digest(load_tensors(original), meta)})
    return header


def edit_metadata(data: bytes, edit: Callable[[dict], None], *, sealed: bool = True) -> bytes:
    """``data`` with ``edit`` applied to its metadata (a dict of JSON strings), resealed."""
    header, payload = split(data)
    edit(header["__metadata__"])
    return join(reseal(header, data) if sealed else header, payload)


def edit_document(data: bytes, key: str, edit: Callable[[dict], None]) -> bytes:
    """``data`` with ``edit`` applied to the JSON document in metadata ``key``, resealed."""

    def change(meta: dict) -> None:
        doc = json.loads(meta[key])
        edit(doc)
        meta[key] = json.dumps(doc, allow_nan=True, ensure_ascii=False)

    return edit_metadata(data, change)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
