"""A fresh model starts at the corpus's unigram distribution (the head bias is log p(token))."""

import math

import numpy as np
import torch
import torch.nn.functional as F

from helpers.cli import unigram_entropy
from rnngen.corpus import load_corpus
from rnngen.data import token_counts
from rnngen.model import ModelConfig, RNNLanguageModel
from rnngen.training import TrainConfig, Trainer


def test_token_counts_agree_with_bincount_across_chunks():
    ids = np.random.default_rng(0).integers(0, 7, size=1001).astype(np.uint8)
    assert np.array_equal(token_counts(ids, 9, chunk=64), np.bincount(ids, minlength=9))


def test_init_output_bias_is_the_smoothed_log_frequency():
    model = RNNLanguageModel(ModelConfig(vocab_size=4, embed=3, hidden=5))
    model.init_output_bias(torch.tensor([6, 2, 0, 0]))
    assert torch.allclose(model.head.bias, torch.log(torch.tensor([7, 3, 1, 1]) / 12.0))


def test_a_fresh_trainer_starts_near_the_unigram_entropy(tmp_path, english_corpus):
    config = TrainConfig(level="word", steps=1, hidden=16, embed=8, layers=1, seq_len=16, batch_size=4,
                         threads=1, seed=2)
    trainer = Trainer(config, load_corpus(english_corpus), out=tmp_path / "w.safetensors")
    entropy = unigram_entropy(trainer.train_split.ids)
    ids = torch.from_numpy(trainer.train_split.ids.astype(np.int64))[None]
    with torch.no_grad():
        logits, _ = trainer.model.eval()(ids[:, :-1])
        loss = F.cross_entropy(logits[0], ids[0, 1:]).item()
    # Uniform guessing would cost log(V); the unigram start costs about the unigram entropy.
    assert loss < entropy + 0.3 < math.log(trainer.tokenizer.vocab_size)
