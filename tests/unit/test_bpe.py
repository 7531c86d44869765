"""--level bpe: byte-level BPE round trips, lives inside the checkpoint, trains and evaluates in bpc."""

import json

import pytest

import rnngen
from rnngen.bpe import BPETokenizer
from rnngen.checkpoint import load_checkpoint, read_header
from rnngen.corpus import load_corpus
from rnngen.errors import RnngenError
from rnngen.tokenizers import build_tokenizer, tokenizer_from_json

from helpers.cli import CHINESE, ENGLISH, TINY, run_cli, unigram_entropy

MIXED = ENGLISH * 6 + CHINESE * 4 + "tabs\tand  spaces, emoji 🎉🎉, accents: café naïve\r\nend\n"


def test_round_trip_is_exact_even_for_text_never_seen():
    tok = build_tokenizer("bpe", MIXED, 320)
    assert tok.level == "bpe" and tok.vocab_size == 320
    for text in (MIXED, "", "unseen: 𝄞 ✓ Ω\x00\n\n  x", "🎉" * 3):
        ids = tok.encode(text)
        assert tok.decode(ids) == text
    ids = tok.encode(ENGLISH)
    assert ids.size < len(ENGLISH) * 0.6  # merges compress
    # Encoding in pieces equals encoding the whole text in one call.
    assert ids.tolist() == tok.hf.encode(ENGLISH).ids
    # Same corpus, same tokenizer.
    assert build_tokenizer("bpe", MIXED, 320).vocab == tok.vocab


def test_json_round_trip_and_token_bytes():
    tok = BPETokenizer.fit(MIXED, 300)
    doc = json.loads(json.dumps(tok.to_json()))
    again = tokenizer_from_json(doc)
    assert again.vocab == tok.vocab and (again.encode(MIXED) == tok.encode(MIXED)).all()
    ids = tok.encode("🎉")
    assert b"".join(tok.token_bytes(int(i)) for i in ids) == "🎉".encode()
    doc["vocab"] = doc["vocab"][::-1]
    with pytest.raises(RnngenError, match="does not match"):
        tokenizer_from_json(doc)
    with pytest.raises(RnngenError, match="at least 256"):
        BPETokenizer.fit(MIXED, 100)


def test_train_sample_eval_with_the_tokenizer_inside_the_checkpoint(tmp_path):
    corpus = tmp_path / "mixed.txt"
    corpus.write_text(MIXED, encoding="utf-8")
    out = tmp_path / "bpe.safetensors"
    run_cli("train", corpus, "--level", "bpe", "--vocab-size", "300", "--steps", "80", "--lr", "1e-2",
            "--out", out, *TINY)
    _, metadata = read_header(out)
    stored = json.loads(metadata["rnngen.tokenizer"])
    assert stored["level"] == "bpe" and stored["hf"]["model"]["type"] == "BPE"
    ckpt = load_checkpoint(out)
    assert ckpt.tokenizer.vocab_size == ckpt.model_config.vocab_size == 300
    history = ckpt.train["history"]
    # It learnt context: a model that knew only token frequencies (where a fresh one starts)
    # could not get below the unigram entropy of the training tokens.
    assert history[-1]["train_loss"] < unigram_entropy(ckpt.tokenizer.encode(MIXED)) - 0.2

    text = run_cli("sample", out, "--prime", "明月", "--length", "30", "--seed", "1").stdout
    assert text.startswith("明月")
    m = rnngen.load(out)
    sample = m.sample(prime="First", length=30, seed=4)
    assert sample == "First" + "".join(m.stream(prime="First", length=30, seed=4))

    # Bits per character: total nats over the characters of the text, not the tokens.
    result = json.loads(run_cli("eval", out, corpus, "--json").stdout)
    text = load_corpus(str(corpus)).text  # as eval reads it (line ends normalised)
    ids = ckpt.tokenizer.encode(text)
    chars_predicted = len(text) * (ids.size - 1) / ids.size
    assert result["tokens"] == ids.size - 1
    assert result["bpc"] == pytest.approx(result["loss"] * result["tokens"] / chars_predicted / 0.6931471805599453,
                                          rel=1e-6)
    # Resume keeps the stored tokenizer.
    run_cli("train", corpus, "--resume", out, "--steps", "45", "--threads", "1")
    assert load_checkpoint(out).tokenizer.vocab == ckpt.tokenizer.vocab
