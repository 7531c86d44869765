"""A checkpoint records its training corpus (files, length, checksum), so the TUI's copy
check can read it again later and tell when it is gone or has changed."""

from __future__ import annotations

import pytest

from rnngen.checkpoint import load_checkpoint
from rnngen.corpus import load_corpus
from rnngen.errors import RnngenError
from rnngen.novelty import CorpusIndex, corpus_record, recorded_corpus_text


def test_a_trained_checkpoint_records_its_corpus_and_it_reads_back(char_ckpt, english_corpus):
    record = load_checkpoint(char_ckpt, with_training_state=False).train["corpus"]
    assert record["sources"] == [str(english_corpus.resolve())]
    assert recorded_corpus_text(record) == load_corpus(english_corpus).text


def test_a_folder_corpus_reads_back_joined_as_training_read_it(tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text("first file\n", encoding="utf-8")
    (folder / "b.txt").write_text("second file", encoding="utf-8")
    corpus = load_corpus(folder)
    assert recorded_corpus_text(corpus_record(corpus.text, corpus.sources)) == corpus.text


def test_a_changed_missing_or_unrecorded_corpus_is_one_line(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("the words the model learned from\n", encoding="utf-8")
    record = corpus_record(path.read_text(encoding="utf-8"), [path])
    path.write_text("the words the model learned from, edited\n", encoding="utf-8")
    with pytest.raises(RnngenError, match="has changed since training"):
        recorded_corpus_text(record)
    path.unlink()
    with pytest.raises(RnngenError, match="cannot read the training corpus: file not found"):
        recorded_corpus_text(record)
    with pytest.raises(RnngenError, match="does not record its corpus"):
        recorded_corpus_text(None)
    for forged in ({"sources": "x"}, {"sources": [], "chars": 1, "sha256": "0"}, ["a"], {"sources": [1]}):
        with pytest.raises(RnngenError, match="malformed"):
            recorded_corpus_text(forged)


def test_copied_spans_are_every_stretch_over_the_threshold():
    """``check`` returns all copied stretches (merged), not just the longest: what the TUI marks."""
    corpus = "It is the east, and Juliet is the sun.\nBut soft, what light through yonder window breaks?\n"
    index = CorpusIndex(corpus, cache=False)
    first, second = "and Juliet is the sun.", "what light through yonder"
    sample = "@@" + first + "@@@" + second + "@@ is the @"
    report = index.check(sample)
    start_a, start_b = sample.index(first), sample.index(second)
    assert report.copied == [(start_a, start_a + len(first)), (start_b, start_b + len(second))]


def test_a_file_of_another_size_is_not_read(tmp_path):
    """A record whose files are far bigger than its text is refused by size, before reading
    (a forged record cannot make the inspector load a huge file)."""
    big = tmp_path / "big.bin"
    big.write_bytes(b"\xff\xfe\x00" * 10_000)  # not even text: reading it would say so
    record = {"sources": [str(big)], "chars": 10, "sha256": "0" * 64}
    with pytest.raises(RnngenError, match="has changed since training"):
        recorded_corpus_text(record)
