"""Cache of encoded corpora: a big corpus is tokenized once, then memory-mapped.

Keyed by the corpus files (resolved path, size, modification time), the text length, the
token level, the vocabulary cap and the validation split, so any change to the text or
to those options misses the cache. Stored under ``corpora/cache/`` as an index,
``<key>.json`` (vocabulary, character counts, and for each split the dtype, shape,
largest id and SHA-256 of its ids), plus plain ``.npy`` arrays (loaded with
``allow_pickle=False``) whose names carry their own checksum.

Nothing read back is trusted: every array is checked against the index (shape, dtype,
checksum, ids below the vocabulary size) before it is used, and anything wrong means
"encode again", with a one-line note. Writers put the arrays in place first and the index
last, each through a random ``O_EXCL`` temporary file and ``os.replace``; since arrays are
named by content, two writers of one key never replace each other's arrays, so the index
that lands last always names whole arrays.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rnngen.atomic_files import create_exclusive, temp_owner_pid, write_atomically
from rnngen.builtin_corpora import corpora_dir
from rnngen.corpus import Corpus
from rnngen.data import Split
from rnngen.tokenizers import Tokenizer, tokenizer_from_json

MIN_CACHED_CHARS = 8_000_000  # smaller corpora encode in well under a second
FORMAT = 2  # of the index; part of the key, so entries of older formats are plain misses
_PARTS = ("train", "val")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class _Damaged(Exception):
    """Why a cache entry cannot be used, in a few words."""


def cache_key(corpus: Corpus, level: str, vocab_size: int | None, val_frac: float) -> str | None:
    """A digest naming this exact encoding job, or None if the corpus is not worth caching."""
    if len(corpus.text) < MIN_CACHED_CHARS or not corpus.sources:
        return None
    files = []
    for path in corpus.sources:
        try:
            st = Path(path).stat()
        except OSError:
            return None
        files.append([str(Path(path).resolve()), st.st_size, st.st_mtime_ns])
    doc = {
        "files": files,
        "chars": len(corpus.text),
        "level": level,
        "vocab_size": vocab_size,
        "val_frac": val_frac,
        "version": FORMAT,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]


def _folder() -> Path:
    return corpora_dir() / "cache"


def _index_path(key: str) -> Path:
    return _folder() / f"{key}.json"


def _array_path(key: str, part: str, sha256: str) -> Path:
    return _folder() / f"{key}.{sha256[:16]}.{part}.npy"


def _digest(ids: np.ndarray) -> tuple[str, int]:
    """SHA-256 of the ids' bytes and the largest id (-1 if none): one pass, ~1 GB/s or more."""
    flat = np.ascontiguousarray(ids).reshape(-1)
    return hashlib.sha256(flat.view(np.uint8).data).hexdigest(), int(flat.max()) if flat.size else -1


def load_encoded(
    key: str, *, chars: int | None = None, note: Callable[[str], None] | None = None
) -> tuple[Tokenizer, Split, Split] | None:
    """The cached tokenizer and memory-mapped splits, verified; None if absent or damaged.

    ``chars``, if given, is the length of the corpus text: the splits must cover exactly
    that many characters. A damaged entry is reported through ``note`` in one line.
    """
    try:
        raw = _index_path(key).read_bytes()
    except FileNotFoundError:
        return None  # a plain miss: nothing to say
    except OSError as exc:
        reason = f"its index cannot be read: {exc.strerror}"
    else:
        try:
            return _verified(key, raw, chars)
        except Exception as exc:  # any damage, whatever its form, just means "encode again"
            reason = str(exc) if isinstance(exc, _Damaged) else "it cannot be read"
    if note is not None:
        note(f"the encoded-corpus cache entry {key} is damaged ({reason}); encoding the corpus again")
    return None


def _verified(key: str, raw: bytes, chars: int | None) -> tuple[Tokenizer, Split, Split]:
    index = json.loads(raw.decode("utf-8"))
    if not isinstance(index, dict) or index.get("format") != FORMAT or index.get("key") != key:
        raise _Damaged("its index belongs to another entry")
    tokenizer = tokenizer_from_json(index["tokenizer"])
    splits = []
    for part in _PARTS:
        ids = _verified_array(key, part, index["arrays"][part], tokenizer.vocab_size)
        part_chars = index[f"{part}_chars"]
        if not isinstance(part_chars, int) or isinstance(part_chars, bool) or part_chars < 0:
            raise _Damaged(f"its {part} character count is not a count")
        if tokenizer.level == "char" and ids.size != part_chars:  # one id per character
            raise _Damaged(f"its {part} character count does not match its ids")
        splits.append(Split(ids, part_chars))
    if chars is not None and splits[0].chars + splits[1].chars != chars:
        raise _Damaged("its character counts do not add up to the corpus")
    return tokenizer, splits[0], splits[1]


def _verified_array(key: str, part: str, entry: dict, vocab_size: int) -> np.ndarray:
    sha256 = entry["sha256"]
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise _Damaged(f"its {part} checksum is malformed")
    path = _array_path(key, part, sha256)
    ids = np.load(path, mmap_mode="r", allow_pickle=False)
    if ids.ndim != 1 or ids.dtype.kind != "u" or ids.dtype.str != entry["dtype"] or list(ids.shape) != entry["shape"]:
        raise _Damaged(f"its {part} array has the wrong shape or type")
    actual_sha256, max_id = _digest(ids)
    if actual_sha256 != sha256:
        raise _Damaged(f"its {part} ids do not match their checksum")
    if max_id >= vocab_size:
        raise _Damaged(f"its {part} ids go beyond the vocabulary")
    if max_id != entry["max_id"]:
        raise _Damaged(f"its index does not describe its {part} ids")
    return ids


def save_encoded(key: str, tokenizer: Tokenizer, train: Split, val: Split) -> None:
    """Write the cache entry: arrays first, the index last; failing to cache never fails training."""
    try:
        _folder().mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(key)
        arrays = {}
        for part, split in zip(_PARTS, (train, val)):
            ids = np.ascontiguousarray(split.ids)
            sha256, max_id = _digest(ids)
            _write_array(_array_path(key, part, sha256), ids)
            arrays[part] = {"sha256": sha256, "dtype": ids.dtype.str, "shape": list(ids.shape), "max_id": max_id}
        index = {
            "format": FORMAT,
            "key": key,
            "tokenizer": tokenizer.to_json(),
            "train_chars": train.chars,
            "val_chars": val.chars,
            "arrays": arrays,
        }
        # Not fsynced: an entry cut short by a power loss fails its checksums and is encoded again.
        write_atomically(_index_path(key), json.dumps(index, ensure_ascii=False).encode("utf-8"), durable=False)
    except OSError:
        pass


def _write_array(path: Path, ids: np.ndarray) -> None:
    tmp, fd = create_exclusive(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, ids, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def _remove_stale_temps(key: str) -> None:
    """Delete this entry's temporary files whose writer is gone (killed mid-save): they can be big."""
    for name in os.listdir(_folder()):
        pid = temp_owner_pid(name) if name.startswith(f".{key}.") else None
        if pid is not None and pid != os.getpid() and not _pid_alive(pid):
            try:
                (_folder() / name).unlink()
            except OSError:
                pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or not a pid we can ask about: leave its file alone
    return True
