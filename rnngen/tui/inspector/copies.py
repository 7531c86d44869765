"""The sample view's copy check: which stretches of the shown text the model copied
verbatim from its training corpus, as token positions to mark.

The corpus is the one given with ``rnngen tui --corpus``, else the one the checkpoint
records (``rnngen.novelty.recorded_corpus_text``: read again and checked against its
checksum). The stretches are ``CorpusIndex.check``'s, with ``rnngen novelty``'s threshold
(20 characters, or 5 words for a word-level model). No Textual here: the app's workers
call ``open_corpus_index`` and ``check_text`` in threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rnngen.corpus import Corpus
from rnngen.errors import RnngenError
from rnngen.novelty import MIN_WORDS, CorpusIndex, NoveltyReport, recorded_corpus_text


def open_corpus_index(corpus: Corpus | None, train: Mapping) -> tuple[CorpusIndex, str]:
    """The copy-check index (built, or read from its ``.npy`` cache) and the corpus's short
    name: ``corpus`` when given, else the checkpoint's recorded corpus. RnngenError (one
    line) when there is none, or it cannot be read, or it has changed since training."""
    if corpus is not None:
        label = corpus.sources[0].name if len(corpus.sources) == 1 else corpus.name
        return CorpusIndex(corpus.text), label
    record = train.get("corpus")
    text = recorded_corpus_text(record)
    assert isinstance(record, dict)  # recorded_corpus_text checked it
    sources = record["sources"]
    label = Path(sources[0]).name if len(sources) == 1 else Path(sources[0]).parent.name
    return CorpusIndex(text), label


def check_text(index: CorpusIndex, text: str, level: str) -> NoveltyReport:
    """``rnngen novelty``'s report for ``text``: stretches of 20+ characters (5+ words at word level)."""
    return index.check(text, min_words=MIN_WORDS if level == "word" else None)


def tokens_in_spans(pieces: list[str], spans: list[tuple[int, int]]) -> set[int]:
    """Indices of the pieces that have a character inside one of ``spans`` (character
    offsets into ``"".join(pieces)``)."""
    marked: set[int] = set()
    if not spans:
        return marked
    start = 0
    k = 0  # spans are sorted and disjoint: walk them once
    for i, piece in enumerate(pieces):
        end = start + len(piece)
        while k < len(spans) and spans[k][1] <= start:
            k += 1
        if k < len(spans) and spans[k][0] < end and end > start:
            marked.add(i)
        start = end
    return marked


@dataclass
class CopyMarks:
    """The copy check's state in the sample view (part of ``InspectorState``)."""

    on: bool = True  # marking shown (the key c turns it off and on)
    corpus: Corpus | None = None  # given with --corpus (else the checkpoint's record is read)
    index: CorpusIndex | None = None
    label: str = ""  # the corpus's short name, as shown
    note: str = ""  # one line: why nothing can be marked ("" once the index is ready)
    loading: bool = False  # the index is being read or built
    load_id: int = 0  # the latest index request: an older answer is dropped
    checking: str | None = None  # the text being checked now
    text: str | None = None  # the text ``report`` is for
    report: NoveltyReport | None = None

    @property
    def busy(self) -> bool:
        return self.loading or self.checking is not None

    def start_loading(self) -> int:
        self.load_id += 1
        self.loading, self.index, self.note = True, None, ""
        self.text, self.report, self.checking = None, None, None
        return self.load_id

    def current(self, text: str) -> NoveltyReport | None:
        """The report for ``text`` (the text shown), if it has been checked."""
        return self.report if self.report is not None and self.text == text else None

    def marked(self, pieces: list[str]) -> set[int]:
        """The tokens to mark: inside copied stretches, when marking is on."""
        report = self.current("".join(pieces)) if self.on else None
        return tokens_in_spans(pieces, report.copied) if report is not None else set()

    def line(self, pieces: list[str], *, generating: bool) -> str:
        """One line on the copy check of the shown text."""
        if self.loading:
            return "copies: reading the training corpus…"
        if self.index is None:
            return f"no copy check (--corpus PATH): {self.note or 'no training corpus'}"
        if not self.on:
            return f"copies from {self.label}: not marked (c: mark them)"
        report = self.current("".join(pieces))
        if report is None:
            if self.text == "".join(pieces):
                return f"copies from {self.label}: the check failed on this text"
            if generating or not pieces:
                return f"copies from {self.label}: checked when the text is complete"
            return f"copies from {self.label}: checking…"
        longest = report.longest
        share = f"copied {report.copied_share:.0%} in stretches ≥ {report.threshold}"
        if longest is None or longest.length == 0:
            return f"{share} · nothing shared with {self.label}"
        return f"{share} · longest {longest.length} chars at {self.label}:{longest.line}"


def failure_note(exc: BaseException) -> str:
    """Why the index could not be made, in one line (never a traceback on the screen)."""
    if isinstance(exc, RnngenError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "the training corpus is too big to index in memory"
    return f"cannot index the training corpus: {exc}"
