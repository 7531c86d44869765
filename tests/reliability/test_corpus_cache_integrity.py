"""Issue 16, item 2 (and the corpus-cache part of item 4): the encoded-corpus cache is verified.

A cache entry whose ids are damaged (a flipped byte, a partial copy, the arrays of another
entry, ids beyond the vocabulary) is never used: the run encodes again and says so in one
line. Writers never leave a mixed entry, even two at once, and never write through a
planted symlink. Every wait polls a condition with a deadline, never a timer.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.cli import TINY, run_cli
from safetensors.torch import load_file

import rnngen.corpus_cache as cache
from rnngen.builtin_corpora import corpora_dir
from rnngen.corpus import Corpus, load_corpus
from rnngen.data import fit_and_encode, split_point
from rnngen.training import TrainConfig, Trainer

TEXT = "abcdefgh ijkl\n" * 50
OTHER = "ijkl abcdefgh\n" * 50  # same length and characters as TEXT, other order
CONFIG = TrainConfig(steps=1, hidden=8, embed=8, layers=1, seq_len=8, batch_size=2, threads=1)
WAIT_S = 120  # generous for a busy machine; nothing waits this long when all is well


@pytest.fixture(autouse=True)
def _small_corpora_are_cached(monkeypatch):
    monkeypatch.setattr(cache, "MIN_CACHED_CHARS", 100)


def _corpus(tmp_path: Path, name: str, text: str = TEXT) -> Corpus:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_corpus(path)


def _key(corpus: Corpus) -> str:
    key = cache.cache_key(corpus, "char", None, 0.1)
    assert key is not None
    return key


def _array_file(key: str, part: str) -> Path:
    (found,) = sorted((corpora_dir() / "cache").glob(f"{key}*.{part}.npy"))
    return found


_RUNS = itertools.count()


def _trainer(corpus: Corpus, tmp_path: Path) -> Trainer:
    # A new checkpoint path each time: a built run holds its path's lock until it has run.
    return Trainer(CONFIG, corpus, out=tmp_path / f"m{next(_RUNS)}.safetensors")


def _cache_notes(trainer: Trainer) -> list[str]:
    return [note for note in trainer.notes if "cache" in note]


def _fill_cache(corpus: Corpus, tmp_path: Path) -> str:
    first = _trainer(corpus, tmp_path)
    assert not _cache_notes(first)
    key = _key(corpus)
    assert isinstance(_trainer(corpus, tmp_path).train_split.ids, np.memmap)  # the entry is used as is
    return key


def _assert_detected(corpus: Corpus, tmp_path: Path) -> None:
    """The damaged entry is refused with one note; the run trains on freshly encoded ids; the cache heals."""
    assert cache.load_encoded(_key(corpus)) is None
    trainer = _trainer(corpus, tmp_path)
    tokenizer, train, val = fit_and_encode("char", corpus.text, split_point(corpus.text, 0.1))
    assert trainer.tokenizer.vocab == tokenizer.vocab
    assert np.array_equal(trainer.train_split.ids, train.ids) and np.array_equal(trainer.val_split.ids, val.ids)
    assert int(trainer.train_split.ids.max()) < trainer.tokenizer.vocab_size
    assert not isinstance(trainer.train_split.ids, np.memmap)
    (note,) = _cache_notes(trainer)
    assert "encod" in note and "\n" not in note
    trainer.run()  # trains on the right ids (a damaged id would fail inside the embedding)

    healed = _trainer(corpus, tmp_path)  # the re-encoding was cached again, whole
    assert isinstance(healed.train_split.ids, np.memmap) and not _cache_notes(healed)
    assert np.array_equal(healed.train_split.ids, train.ids)


def _flip_last_byte(path: Path, value: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    data[-1] = (data[-1] ^ 0x01) if value is None else value
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("part", ["train", "val"])
def test_a_flipped_byte_in_a_cached_array_is_detected(tmp_path, part):
    corpus = _corpus(tmp_path, "big.txt")
    key = _fill_cache(corpus, tmp_path)
    _flip_last_byte(_array_file(key, part))  # still a valid id: silent training on the wrong text
    _assert_detected(corpus, tmp_path)


@pytest.mark.parametrize("part", ["train", "val"])
def test_a_truncated_cached_array_is_detected(tmp_path, part):
    corpus = _corpus(tmp_path, "big.txt")
    key = _fill_cache(corpus, tmp_path)
    path = _array_file(key, part)
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    _assert_detected(corpus, tmp_path)


def test_swapped_arrays_of_two_cache_entries_are_detected(tmp_path):
    one, two = _corpus(tmp_path, "one.txt", TEXT), _corpus(tmp_path, "two.txt", OTHER)
    key_one, key_two = _fill_cache(one, tmp_path), _fill_cache(two, tmp_path)
    assert key_one != key_two
    for part in ("train", "val"):  # same shapes and dtypes: only the contents tell them apart
        a, b = _array_file(key_one, part), _array_file(key_two, part)
        data_a, data_b = a.read_bytes(), b.read_bytes()
        assert data_a != data_b
        a.write_bytes(data_b)
        b.write_bytes(data_a)
    _assert_detected(one, tmp_path)
    _assert_detected(two, tmp_path)


def test_ids_beyond_the_vocabulary_in_an_array_are_detected(tmp_path):
    corpus = _corpus(tmp_path, "big.txt")
    key = _fill_cache(corpus, tmp_path)
    _flip_last_byte(_array_file(key, "train"), value=250)
    _assert_detected(corpus, tmp_path)


def test_ids_beyond_a_vocabulary_shrunk_in_the_index_are_detected(tmp_path):
    """The arrays are intact (their checksums hold); the vocabulary beside them is too small for them."""
    corpus = _corpus(tmp_path, "big.txt")
    key = _fill_cache(corpus, tmp_path)
    meta_path = corpora_dir() / "cache" / f"{key}.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["tokenizer"]["vocab"] = meta["tokenizer"]["vocab"][:-3]
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    _assert_detected(corpus, tmp_path)


def test_a_cli_run_on_a_damaged_cache_notes_it_and_trains_on_the_right_text(tmp_path):
    (tmp_path / "big.txt").write_text(TEXT, encoding="utf-8")
    run_cli("train", tmp_path / "big.txt", "--steps", "3", "--out", tmp_path / "a.safetensors", *TINY)
    key = _key(load_corpus(tmp_path / "big.txt"))
    _flip_last_byte(_array_file(key, "train"))
    result = run_cli("train", tmp_path / "big.txt", "--steps", "3", "--out", tmp_path / "b.safetensors", *TINY)
    notes = [line for line in result.output.splitlines() if line.startswith("note:") and "cache" in line]
    assert len(notes) == 1, result.output
    assert "Traceback" not in result.output
    a, b = load_file(tmp_path / "a.safetensors"), load_file(tmp_path / "b.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)  # same ids, same model


# --- writers ---------------------------------------------------------------------------------

WRITER = """
import os, signal, sys, time
from pathlib import Path
import rnngen.corpus_cache as cache
from rnngen.data import fit_and_encode

key, text, pause_after, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
tokenizer, train, val = fit_and_encode("char", text, int(len(text) * 0.9))
real_replace, calls = os.replace, [0]

def replace(src, dst):  # a pause point between two steps of a real save, nothing else changed
    real_replace(src, dst)
    calls[0] += 1
    if calls[0] == pause_after:
        os.kill(os.getpid(), signal.SIGSTOP)

os.replace = replace
deadline = time.monotonic() + 120
while go and not Path(go).exists() and time.monotonic() < deadline:
    time.sleep(0.001)  # a start line: both writers leave it together
for _ in range(1 if pause_after else 5):
    cache.save_encoded(key, tokenizer, train, val)
"""


def _writer(key: str, text: str, *, pause_after: int = 0, go: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, key, text, str(pause_after), str(go or "")])


def _wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _stopped(proc: subprocess.Popen) -> bool:
    assert proc.poll() is None, f"writer exited ({proc.returncode}) before its pause point"
    return Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def _whole_entry(key: str, texts: list[str]) -> str | None:
    """Which of ``texts`` the cache entry holds, all parts of it (None if it is refused)."""
    loaded = cache.load_encoded(key)
    if loaded is None:
        return None
    tokenizer, train, val = loaded
    for text in texts:
        want_tokenizer, want_train, want_val = fit_and_encode("char", text, int(len(text) * 0.9))
        if (
            tokenizer.vocab == want_tokenizer.vocab
            and np.array_equal(train.ids, want_train.ids)
            and np.array_equal(val.ids, want_val.ids)
            and (train.chars, val.chars) == (want_train.chars, want_val.chars)
        ):
            return text
    raise AssertionError("the cache entry mixes the parts of two writers")


# Two encodings under one key: the writers differ so that a mixed entry would show.
FIRST, SECOND = "abcdefgh ijkl\n" * 300, "mnopqrstu vwxyz\n" * 400


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to see a stopped writer")
@pytest.mark.parametrize("pause_after", [1, 2])
def test_a_reader_never_sees_a_writer_mid_save(tmp_path, pause_after):
    key = "0123456789abcdef01234567"
    tokenizer, train, val = fit_and_encode("char", FIRST, int(len(FIRST) * 0.9))
    cache.save_encoded(key, tokenizer, train, val)
    assert _whole_entry(key, [FIRST]) == FIRST

    writer = _writer(key, SECOND, pause_after=pause_after)
    try:
        _wait_until(lambda: _stopped(writer), "the writer to pause mid-save")
        assert _whole_entry(key, [FIRST, SECOND]) in (FIRST, None)
    finally:
        writer.send_signal(signal.SIGCONT)
        assert writer.wait(timeout=WAIT_S) == 0
    assert _whole_entry(key, [FIRST, SECOND]) == SECOND


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to see a stopped writer")
def test_a_writer_overtaken_mid_save_still_leaves_one_whole_entry(tmp_path):
    """Writer 1 has put its arrays in place when writer 2 saves whole; then writer 1 writes its index."""
    key = "00112233445566778899aabb"
    slow = _writer(key, FIRST, pause_after=2)
    try:
        _wait_until(lambda: _stopped(slow), "the first writer to pause before its index")
        assert _writer(key, SECOND).wait(timeout=WAIT_S) == 0
        assert _whole_entry(key, [FIRST, SECOND]) == SECOND
    finally:
        slow.send_signal(signal.SIGCONT)
        assert slow.wait(timeout=WAIT_S) == 0
    assert _whole_entry(key, [FIRST, SECOND]) == FIRST  # the last index written names its own arrays


def test_two_processes_saving_the_same_key_at_once_leave_one_good_entry(tmp_path):
    key = "fedcba9876543210fedcba98"
    go = tmp_path / "go"
    writers = [_writer(key, FIRST, go=go), _writer(key, SECOND, go=go)]
    go.touch()
    assert [w.wait(timeout=WAIT_S) for w in writers] == [0, 0]
    assert _whole_entry(key, [FIRST, SECOND]) in (FIRST, SECOND)
    notes: list[str] = []
    assert cache.load_encoded(key, note=notes.append) is not None and not notes
    leftovers = [p.name for p in (corpora_dir() / "cache").iterdir() if ".tmp-" in p.name]
    assert not leftovers


def test_planted_symlinks_at_guessable_names_are_never_written_through(tmp_path):
    corpus = _corpus(tmp_path, "big.txt")
    key = _key(corpus)
    folder = corpora_dir() / "cache"
    folder.mkdir(parents=True)
    victims = tmp_path / "victims"
    victims.mkdir()
    pid = os.getpid()
    guessable = []
    for name in (f"{key}.json", f"{key}.train.npy", f"{key}.val.npy"):
        guessable += [name, f".{name}.tmp-{pid}", f".{name}.tmp", f"{name}.tmp"]
    for i, name in enumerate(guessable):
        victim = victims / f"victim{i}"
        victim.write_text("precious")
        (folder / name).symlink_to(victim)

    tokenizer, train, val = fit_and_encode("char", corpus.text, split_point(corpus.text, 0.1))
    cache.save_encoded(key, tokenizer, train, val)

    assert all(v.read_bytes() == b"precious" for v in victims.iterdir())
    assert cache.load_encoded(key) is not None  # and the entry itself was written, whole


def test_temporary_files_of_killed_writers_are_removed(tmp_path):
    corpus = _corpus(tmp_path, "big.txt")
    key = _key(corpus)
    folder = corpora_dir() / "cache"
    folder.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        left = folder / f".{key}.train.npy.tmp-{dead.pid}-0123456789abcdef"
        busy = folder / f".{key}.train.npy.tmp-{alive.pid}-0123456789abcdef"
        other = folder / f".someone-else.npy.tmp-{dead.pid}-0123456789abcdef"
        for path in (left, busy, other):
            path.write_bytes(b"partial")
        tokenizer, train, val = fit_and_encode("char", corpus.text, split_point(corpus.text, 0.1))
        cache.save_encoded(key, tokenizer, train, val)
        assert not left.exists()  # its writer is gone
        assert busy.exists() and other.exists()  # a live writer's file, another entry's file
    finally:
        alive.stdin.close()
        alive.wait(timeout=WAIT_S)
