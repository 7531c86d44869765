import numpy as np

import rnngen.corpus_cache as cache
from rnngen.corpus import load_corpus
from rnngen.training import TrainConfig, Trainer


def test_big_corpus_encoding_is_cached_and_memory_mapped(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "MIN_CACHED_CHARS", 100)
    path = tmp_path / "big.txt"
    path.write_text("the cat sat on the mat, and the dog sat too.\n" * 40)
    config = TrainConfig(level="word", steps=1, hidden=8, embed=8, layers=1, seq_len=8, batch_size=2, threads=1)

    first = Trainer(config, load_corpus(path), out=tmp_path / "a.safetensors")
    files = sorted(p.name.split(".", 1)[1] for p in (tmp_path / "corpora" / "cache").iterdir())
    assert files == ["json", "train.npy", "val.npy"]

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
    json_path, train_path, _ = cache._paths(key)
    json_path.parent.mkdir(parents=True)
    json_path.write_text("{not json")
    train_path.write_bytes(b"garbage")
    assert cache.load_encoded(key) is None
    trainer = Trainer(TrainConfig(steps=1, hidden=8, embed=8, layers=1, seq_len=8, batch_size=2, threads=1),
                      corpus, out=tmp_path / "m.safetensors")
    assert trainer.train_split.tokens > 0
