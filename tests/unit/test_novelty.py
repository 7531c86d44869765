"""The copy check: suffix array, planted copies, text absent from the corpus, the cached index."""

from __future__ import annotations

import json
import random

import numpy as np
from helpers.cli import run_cli

from rnngen.builtin_corpora import corpora_dir
from rnngen.novelty import CorpusIndex, build_suffix_array, split_samples


def _random_corpus(n=20000, seed=0):
    rng = random.Random(seed)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz  \n") for _ in range(n))


def test_suffix_array_matches_sorting_the_suffixes():
    rng = random.Random(1)
    for trial in range(300):
        alphabet = ["ab", "ab\n", "abcé", "床前明月光a"][trial % 4]
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80)))
        assert build_suffix_array(text).tolist() == sorted(range(len(text)), key=lambda i: text[i:])


def test_a_planted_50_character_copy_is_found_at_its_offset():
    corpus = _random_corpus()
    offset = 12345
    planted = corpus[offset : offset + 50]
    sample = "#" * 30 + planted + "#" * 30  # '#' is not in the corpus: the copy cannot extend
    report = CorpusIndex(corpus, cache=False).check(sample)
    assert report.longest is not None
    assert (report.longest.length, report.longest.corpus_offset, report.longest.sample_offset) == (50, offset, 30)
    assert report.longest.line == corpus.count("\n", 0, offset) + 1
    assert report.copied == [(30, 80)] and report.copied_share == 50 / 110


def test_text_absent_from_the_corpus_reports_no_copying():
    corpus = _random_corpus()
    rng = random.Random(2)
    sample = "".join(rng.choice("0123456789 .,;ABCDEFXYZ") for _ in range(2000))  # none of it is in the corpus
    report = CorpusIndex(corpus, cache=False).check(sample)
    assert report.longest is not None and report.longest.length <= 2  # a space, perhaps two
    assert report.copied_share == 0 and report.copied == []


def test_word_threshold_counts_words():
    corpus = "the quick brown fox jumps over the lazy dog\n" * 3
    index = CorpusIndex(corpus, cache=False)
    assert index.check("# quick brown fox #", min_words=5).copied == []
    assert index.check("# quick brown fox jumps over #", min_words=5).copied == [(1, 29)]  # with the spaces around


def test_the_index_is_cached_as_plain_npy_and_a_damaged_cache_is_rebuilt():
    corpus = _random_corpus(5000, seed=3)
    expected = build_suffix_array(corpus)
    CorpusIndex(corpus)
    cached = list((corpora_dir() / "cache").glob("novelty-*.npy"))
    assert len(cached) == 1
    assert np.array_equal(np.load(cached[0], allow_pickle=False), expected)
    cached[0].write_bytes(b"not an array")
    assert np.array_equal(CorpusIndex(corpus).sa, expected)
    assert np.array_equal(np.load(cached[0], allow_pickle=False), expected)


def test_samples_split_on_dash_lines():
    assert split_samples("one\n---\ntwo\n-----\n\nthree\n") == ["one", "two", "three"]
    assert split_samples("just one") == ["just one"]


def test_novelty_command_reports_json_and_refuses_bad_input(tmp_path):
    corpus = _random_corpus()
    (tmp_path / "corpus.txt").write_text(corpus, encoding="utf-8")
    (tmp_path / "samples.txt").write_text(
        "#" * 10 + corpus[500:560] + "#" * 10 + "\n---\n" + "0123456789" * 5 + "\n", encoding="utf-8"
    )
    result = run_cli("novelty", tmp_path / "samples.txt", tmp_path / "corpus.txt", "--json")
    first, second = json.loads(result.output)["samples"]
    assert first["longest"]["length"] == 60 and first["longest"]["corpus_offset"] == 500
    assert second["copied_share"] == 0
    text = run_cli("novelty", tmp_path / "samples.txt", tmp_path / "corpus.txt").output
    assert "longest shared stretch 60 chars at corpus char 500" in text
    for args in (
        [tmp_path / "samples.txt", tmp_path / "missing.txt"],
        [tmp_path / "samples.txt", tmp_path / "corpus.txt", "--min-chars", "0"],
        [tmp_path / "nothing.txt", tmp_path / "corpus.txt"],
    ):
        bad = run_cli("novelty", *args, ok=False)
        lines = bad.output.strip().splitlines()
        assert bad.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), bad.output


def test_novelty_on_a_checkpoint_generates_and_checks(char_ckpt, english_corpus):
    result = run_cli("novelty", char_ckpt, english_corpus, "--num", 2, "--length", 50, "--seed", 1, "--json")
    reports = json.loads(result.output)["samples"]
    assert len(reports) == 2 and all(r["chars"] == 50 and 0 <= r["copied_share"] <= 1 for r in reports)
