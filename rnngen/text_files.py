"""Reading the user's text: every file that reaches a tokenizer goes through
:func:`read_text_file`, which reads the bytes once, decodes them once and turns every
problem (missing, unreadable, binary, wrongly encoded, empty) into an
:class:`~rnngen.errors.RnngenError` with one line saying which file and what to do.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Callable
from pathlib import Path

from rnngen.errors import RnngenError, setting

_SNIFF_BYTES = 8192
# Control characters that real text does contain: \t \n \v \f \r and ESC (ANSI colours).
_TEXT_CONTROLS = b"\t\n\x0b\x0c\r\x1b"
_CONTROL_BYTES = bytes(b for b in range(32) if b not in _TEXT_CONTROLS) + b"\x7f"
_NOT_CONTROL_BYTES = bytes(b for b in range(256) if b not in _CONTROL_BYTES)
_MAX_CONTROL_FRACTION = 0.10  # more than this share of odd control bytes: not text


def read_text_file(path: Path, encoding: str = "utf-8", *, allow_empty: bool = False) -> str:
    """Read one text file, decode it and normalise its line ends to ``"\\n"``.

    A UTF-8 byte-order mark is dropped.  Raises RnngenError, naming the file, when it
    is missing, a folder, unreadable, binary, not decodable with ``encoding`` or (unless
    ``allow_empty``) empty or whitespace only.
    """
    path = Path(path)
    _check_encoding(encoding)
    data = _read_bytes(path)
    text = decode_text(data, str(path), encoding)
    if not allow_empty and (not text or text.isspace()):
        raise RnngenError(f"corpus {path} is empty (nothing but whitespace); give it some text")
    return text


def _check_encoding(encoding: str) -> str:
    """The codec's canonical name, e.g. "utf-8" for "UTF8"; RnngenError if unknown."""
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        info = None
    # Codecs such as rot13 or base64 exist but do not turn bytes into text.
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise RnngenError(f"unknown text encoding {encoding!r}; use a name such as utf-8, latin-1 or cp1252")
    return info.name


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise RnngenError(f"file not found: {path}")
    if path.is_dir():
        raise RnngenError(f"{path} is a folder, expected a text file")
    if not path.is_file():
        raise RnngenError(f"{path} is not a regular file (device, pipe or socket?); give a text file")
    try:
        with open(path, "rb") as f:
            return f.read()
    except PermissionError:
        raise RnngenError(f"cannot read {path}: permission denied; check the file's permissions") from None
    except OSError as e:
        raise RnngenError(f"cannot read {path}: {e.strerror or e}") from None


def decode_text(data: bytes, label: str, encoding: str) -> str:
    """Decode ``data`` (from ``label``), reject binary data, normalise newlines."""
    codec = _check_encoding(encoding)
    wide = codec.startswith(("utf-16", "utf-32"))
    # UTF-16/32 text is full of NUL bytes, so sniff those after decoding instead.
    if not wide and _looks_binary(data[:_SNIFF_BYTES]):
        raise RnngenError(f"{label} looks like a binary file, not text; give a plain text file")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        raise RnngenError(_decode_error_message(data, label, encoding, e)) from None
    if wide and _looks_binary(text[:_SNIFF_BYTES].encode("utf-8", "replace")):
        raise RnngenError(f"{label} looks like a binary file, not text; give a plain text file")
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:  # Windows "\r\n" and old Mac "\r"; str.replace runs in C, fast on big files
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    controls = len(head.translate(None, _NOT_CONTROL_BYTES))
    return controls > _MAX_CONTROL_FRACTION * len(head)


def _decode_error_message(data: bytes, label: str, encoding: str, e: UnicodeDecodeError) -> str:
    line = data.count(b"\n", 0, e.start) + 1
    where = f"byte 0x{data[e.start]:02x} at offset {e.start} (line {line})"
    if _check_encoding(encoding) == "utf-8":
        return (
            f"{label} is not valid UTF-8: {where}; if it uses another encoding, "
            f"say which, e.g. {setting('encoding')} latin-1 or {setting('encoding')} cp1252"
        )
    return f"{label} cannot be decoded as {encoding}: {where}; check {setting('encoding')}"


def _raise_walk_error(e: OSError) -> None:
    reason = "permission denied; check its permissions" if isinstance(e, PermissionError) else (e.strerror or str(e))
    raise RnngenError(f"cannot read folder {e.filename}: {reason}")


def is_hidden(name: str) -> bool:
    return name.startswith(".")


def walk_sorted(
    root: Path, suffix: str, skip_dir: Callable[[str], bool], *, strict: bool = True
) -> list[tuple[str, ...]]:
    """Relative paths (as parts) of files ending in ``suffix`` below ``root``, sorted.

    Sorting by parts (not by the joined string) keeps a folder's files together:
    ``a/b.txt`` comes before ``a-c.txt``.  With ``strict`` an unreadable subfolder is
    an error rather than silently missing text.
    """
    found: list[tuple[str, ...]] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=_raise_walk_error if strict else None):
        dirnames[:] = [d for d in dirnames if not skip_dir(d)]
        rel = Path(dirpath).relative_to(root).parts
        for name in filenames:
            if name.endswith(suffix) and not is_hidden(name):
                found.append((*rel, name))
    return sorted(found)
