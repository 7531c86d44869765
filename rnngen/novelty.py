"""The copy check: how much of a sample the model copied verbatim from its training text.

For each sample: the longest stretch it shares with the corpus (where it is there: char
offset and line), and the share of the sample inside copied stretches of at least
``min_chars`` characters (or ``min_words`` words). The corpus is indexed once by a suffix
array (numpy prefix doubling that re-sorts only the suffixes still tied), cached as a
plain ``.npy`` next to the corpus cache; a query is a binary search per sample position.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnngen.atomic_files import create_exclusive
from rnngen.builtin_corpora import corpora_dir
from rnngen.errors import RnngenError
from rnngen.text_files import read_text_file

MIN_CHARS = 20  # a shared stretch shorter than this is common phrasing, not copying
MIN_WORDS = 5  # the same at word level
INDEX_VERSION = 1
_WORD = re.compile(r"\w+")


def build_suffix_array(text: str) -> np.ndarray:
    """The suffix array of ``text`` (int32 or int64 start offsets, lexicographic by code point)."""
    n = len(text)
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    raw = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    # Dense codes 1..A in code-point order (0 is "past the end", smaller than every character).
    present = np.bincount(raw) > 0
    lut = np.cumsum(present, dtype=np.int64)
    codes = lut[raw]
    base = int(lut[-1]) + 1
    del raw, present, lut
    # The first sort is by the first `width` characters packed into one int64.
    width = max(1, int(62 // math.log2(base + 1)))
    key = codes.copy()
    for j in range(1, width):  # in place: key = key * base + (the character j places on, or 0)
        key *= base
        if j < n:
            key[: n - j] += codes[j:]
    sa = np.argsort(key)  # equal keys are one group, ordered by the rounds below
    sorted_key = key[sa]
    del key, codes
    positions = np.arange(n, dtype=np.int64)
    boundary = np.empty(n, dtype=bool)
    boundary[0] = True
    boundary[1:] = sorted_key[1:] != sorted_key[:-1]
    del sorted_key
    group = np.maximum.accumulate(np.where(boundary, positions, 0))  # each sorted slot's group start
    rank = np.empty(n, dtype=np.int64)
    rank[sa] = group
    k = width
    while True:
        end = np.empty(n, dtype=bool)
        end[:-1] = boundary[1:]
        end[-1] = True
        tied = np.flatnonzero(~(boundary & end))  # slots in groups of two or more
        if tied.size == 0:
            break
        starts = sa[tied]
        follow = starts + k
        second = np.where(follow < n, rank[np.minimum(follow, n - 1)], -1)
        first = group[tied]
        order = np.argsort(first * (n + 1) + (second + 1))
        sa[tied] = starts[order]
        first, second = first[order], second[order]
        fresh = np.empty(tied.size, dtype=bool)
        fresh[0] = True
        fresh[1:] = (first[1:] != first[:-1]) | (second[1:] != second[:-1])
        boundary[tied] = fresh
        new_group = np.maximum.accumulate(np.where(fresh, tied, 0))
        group[tied] = new_group
        rank[sa[tied]] = new_group
        k *= 2
    return sa.astype(np.int32) if n < 2**31 else sa


def _index_path(text: str) -> Path:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return corpora_dir() / "cache" / f"novelty-v{INDEX_VERSION}-{digest}.npy"


def load_or_build_index(text: str, *, cache: bool = True) -> np.ndarray:
    """The corpus's suffix array: from the cache when a valid one is there, else built (and cached)."""
    path = _index_path(text)
    if cache and path.is_file():
        try:
            sa = np.load(path, allow_pickle=False)
            if sa.shape == (len(text),) and sa.dtype in (np.int32, np.int64) and _plausible(sa, len(text)):
                return sa
        except (OSError, ValueError):
            pass  # damaged: build it again
    sa = build_suffix_array(text)
    if cache:
        _write_index(path, sa)
    return sa


def _plausible(sa: np.ndarray, n: int) -> bool:
    """A cheap check that a cached array could be this text's index (every offset in range)."""
    return n == 0 or (int(sa.min()) >= 0 and int(sa.max()) < n)


def _write_index(path: Path, sa: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp, fd = create_exclusive(path)
    except OSError:
        return  # no cache then: the index still answers
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, sa, allow_pickle=False)
        os.replace(tmp, path)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass


@dataclass(frozen=True)
class Stretch:
    """A stretch of the sample found verbatim in the corpus."""

    length: int
    sample_offset: int
    corpus_offset: int
    line: int  # 1-based line of the corpus where it starts
    text: str

    def to_json(self) -> dict:
        return {
            "length": self.length,
            "sample_offset": self.sample_offset,
            "corpus_offset": self.corpus_offset,
            "line": self.line,
            "text": self.text,
        }


@dataclass(frozen=True)
class NoveltyReport:
    chars: int
    longest: Stretch | None  # None for an empty sample
    copied_share: float  # of the sample's characters, inside copied stretches
    copied: list[tuple[int, int]]  # (start, end) in the sample of each copied stretch, merged
    threshold: str  # "20 chars" or "5 words"

    def to_json(self) -> dict:
        return {
            "chars": self.chars,
            "longest": self.longest.to_json() if self.longest else None,
            "copied_share": round(self.copied_share, 4),
            "copied": [list(span) for span in self.copied],
            "threshold": self.threshold,
        }


class CorpusIndex:
    """A corpus and its suffix array, ready for copy checks."""

    def __init__(self, text: str, *, cache: bool = True):
        if not text:
            raise RnngenError("the corpus for the copy check is empty")
        self.text = text
        self.sa = load_or_build_index(text, cache=cache)

    def _longest_at(self, query: str) -> tuple[int, int]:
        """The longest prefix of ``query`` found in the corpus: (length, corpus offset)."""
        text, sa, m = self.text, self.sa, len(query)
        lo, hi = 0, len(sa)
        while lo < hi:  # first suffix not less than the query (compared on the query's length)
            mid = (lo + hi) // 2
            start = int(sa[mid])
            if text[start : start + m] < query:
                lo = mid + 1
            else:
                hi = mid
        best, where = 0, 0
        for slot in (lo - 1, lo):
            if 0 <= slot < len(sa):
                start = int(sa[slot])
                common = len(os.path.commonprefix([text[start : start + m], query]))
                if common > best:
                    best, where = common, start
        return best, where

    def check(self, sample: str, *, min_chars: int = MIN_CHARS, min_words: int | None = None) -> NoveltyReport:
        """The copy report of one sample; with ``min_words`` a stretch counts by its words."""
        spans: list[tuple[int, int]] = []
        longest: Stretch | None = None
        best_len, best_at, best_src = -1, 0, 0
        reach = 0  # matching statistics: the match at i+1 is at least the match at i minus one
        for i in range(len(sample)):
            length, src = self._longest_at(sample[i:])
            if length > best_len:
                best_len, best_at, best_src = length, i, src
            if i + length > reach:
                reach = i + length
                if self._counts(sample[i : i + length], min_chars, min_words):
                    spans.append((i, i + length))
        if best_len >= 0:
            line = self.text.count("\n", 0, best_src) + 1
            longest = Stretch(best_len, best_at, best_src, line, sample[best_at : best_at + best_len])
        merged = _merge(spans)
        copied = sum(end - start for start, end in merged)
        threshold = f"{min_words} words" if min_words is not None else f"{min_chars} chars"
        return NoveltyReport(len(sample), longest, copied / len(sample) if sample else 0.0, merged, threshold)

    @staticmethod
    def _counts(stretch: str, min_chars: int, min_words: int | None) -> bool:
        if min_words is not None:
            return len(_WORD.findall(stretch)) >= min_words
        return len(stretch) >= min_chars


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def split_samples(text: str) -> list[str]:
    """Samples in a text file: separated by lines of three or more dashes (``rnngen sample``'s
    separator), or the whole file as one sample."""
    parts = re.split(r"(?m)^-{3,}[ \t]*\n?", text)
    samples = [p.strip("\n") for p in parts]
    return [s for s in samples if s.strip()]


# ---- which corpus a checkpoint was trained on (so the TUI can check its samples) ----------

MAX_RECORDED_SOURCES = 100_000  # a record naming more files than this is not one rnngen wrote


def text_digest(text: str) -> str:
    """SHA-256 of ``text`` as UTF-8, hashed in blocks (no second copy of a big corpus)."""
    digest = hashlib.sha256()
    for start in range(0, len(text), 1 << 20):
        digest.update(text[start : start + (1 << 20)].encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def corpus_record(text: str, sources: Sequence[Path]) -> dict:
    """What a checkpoint records about its training corpus: the files read (absolute),
    the length and a checksum of the text, so a later copy check can find it again
    and tell when it has changed."""
    return {
        "sources": [str(Path(p).resolve()) for p in sources],
        "chars": len(text),
        "sha256": text_digest(text),
    }


def recorded_corpus_text(record: object, encoding: str = "utf-8") -> str:
    """The training corpus a checkpoint recorded (``corpus_record``), read again and checked.

    Raises RnngenError in one line when the checkpoint records none, a file cannot be read,
    or the text is no longer what training read (a file edited, moved or re-encoded)."""
    if record is None:
        raise RnngenError("the checkpoint does not record its corpus")
    if not isinstance(record, dict):
        raise RnngenError("the checkpoint's corpus record is malformed")
    sources, chars, sha = record.get("sources"), record.get("chars"), record.get("sha256")
    if (
        not isinstance(sources, list)
        or not 0 < len(sources) <= MAX_RECORDED_SOURCES
        or not all(isinstance(s, str) and s for s in sources)
        or not isinstance(chars, int)
        or isinstance(chars, bool)
        or not isinstance(sha, str)
    ):
        raise RnngenError("the checkpoint's corpus record is malformed")
    label = sources[0] if len(sources) == 1 else f"{Path(sources[0]).parent} ({len(sources)} files)"
    # Sizes first: a file of another size cannot hold the same text (a character is 1-4
    # bytes, a CRLF 2 bytes for 1, a byte-order mark 3), and nothing too big is read.
    try:
        size = sum(Path(s).stat().st_size for s in sources)
    except OSError:
        size = None  # reading says what is wrong
    if size is not None and not chars - len(sources) <= size <= 4 * chars + 3 * len(sources):
        raise RnngenError(f"the training corpus {label} has changed since training")
    try:
        # A folder's files were joined with a line break each (corpus.load_corpus).
        parts = [read_text_file(Path(s), encoding, allow_empty=len(sources) > 1) for s in sources]
    except RnngenError as exc:
        raise RnngenError(f"cannot read the training corpus: {exc}") from None
    text = "\n".join(parts)
    if len(text) != chars or text_digest(text) != sha:
        raise RnngenError(f"the training corpus {label} has changed since training")
    return text
