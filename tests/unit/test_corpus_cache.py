import numpy as np

import rnngen.corpus_cache as cache
from rnngen.builtin_corpora import corpora_dir
from rnngen.corpus import load_corpus
from rnngen.training import TrainConfig, Trainer


def test_big_corpus_encoding_is_cached_and_memory_mapped(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "MIN_CACHED_CHARS", 100)
    path = tmp_path / "big.txt"
    path.write_text("the cat sat on the mat, and the dog sat too.\n" * 40)
    config = TrainConfig(level="word", steps=1, hidden=8, embed=8, layers=1, seq_len=8, batch_size=2, threads=1)

    first = Trainer(config, load_corpus(path), out=tmp_path / "a.safetensors")
    names = [p.name for p in (corpora_dir() / "cache").iterdir()]
    kinds = sorted(name.rsplit(".", 2)[-2] if name.endswith(".npy") else "index" for name in names)
    assert kinds == ["index", "train", "val"]  # the arrays are named by their checksums

    second = Trainer(config, load_corpus(path), out=tmp_path / "b.safetensors")
    assert isinstance(second.train_split.ids, np.memmap)  # read from the cache, not re-encoded
    assert second.tokenizer.vocab == first.tokenizer.vocab
    assert np.array_equal(second.train_split.ids, first.train_split.ids)
    assert second.val_split.chars == first.val_split.chars

    path.write_text("a different text entirely, with new words.\n" * 40)  # the key changes with the file
    third = Trainer(config, load_corpus(path), out=tmp_path / "c.safetensors")
    assert not isinstance(third.train_split.ids, np.memmap)
    assert "different" in third.tokenizer.vocab


def test_damaged_cache_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "MIN_CACHED_CHARS", 100)
    path = tmp_path / "big.txt"
    path.write_text("abcdefgh ijkl\n" * 50)
    corpus = load_corpus(path)
    key = cache.cache_key(corpus, "char", None, 0.1)
    folder = corpora_dir() / "cache"
    folder.mkdir(parents=True)
    (folder / f"{key}.json").write_text("{not json")
    (folder / f"{key}.train.npy").write_bytes(b"garbage")
    notes = []
    assert cache.load_encoded(key, note=notes.append) is None
    assert len(notes) == 1 and key in notes[0]
    trainer = Trainer(
        TrainConfig(steps=1, hidden=8, embed=8, layers=1, seq_len=8, batch_size=2, threads=1),
        corpus,
        out=tmp_path / "m.safetensors",
    )
    assert trainer.train_split.tokens > 0
