"""Cache of encoded corpora: a big corpus is tokenized once, then memory-mapped.

Keyed by the corpus files (resolved path, size, modification time), the text length, the
token level, the vocabulary cap and the validation split, so any change to the text or
to those options misses the cache. Stored under ``corpora/cache/`` as plain ``.npy``
arrays (loaded with ``allow_pickle=False``) plus a JSON file with the vocabulary.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from rnngen.builtin_corpora import corpora_dir
from rnngen.corpus import Corpus
from rnngen.data import Split
from rnngen.tokenizers import Tokenizer, tokenizer_from_json

MIN_CACHED_CHARS = 8_000_000  # smaller corpora encode in well under a second


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
        "version": 1,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]


def _paths(key: str) -> tuple[Path, Path, Path]:
    folder = corpora_dir() / "cache"
    return folder / f"{key}.json", folder / f"{key}.train.npy", folder / f"{key}.val.npy"


def load_encoded(key: str) -> tuple[Tokenizer, Split, Split] | None:
    """The cached tokenizer and memory-mapped splits, or None if absent or unreadable."""
    meta_path, train_path, val_path = _paths(key)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        tokenizer = tokenizer_from_json(meta["tokenizer"])
        train = np.load(train_path, mmap_mode="r", allow_pickle=False)
        val = np.load(val_path, mmap_mode="r", allow_pickle=False)
        return tokenizer, Split(train, int(meta["train_chars"])), Split(val, int(meta["val_chars"]))
    except Exception:  # any damage just means "encode again"
        return None


def save_encoded(key: str, tokenizer: Tokenizer, train: Split, val: Split) -> None:
    """Write the cache atomically; failing to cache never fails training."""
    meta_path, train_path, val_path = _paths(key)
    try:
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        for path, ids in ((train_path, train.ids), (val_path, val.ids)):
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            with open(tmp, "wb") as handle:
                np.save(handle, np.asarray(ids), allow_pickle=False)
            os.replace(tmp, path)
        doc = {"tokenizer": tokenizer.to_json(), "train_chars": train.chars, "val_chars": val.chars}
        tmp = meta_path.with_name(f".{meta_path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, meta_path)  # written last: its presence means the arrays are complete
    except OSError:
        pass
