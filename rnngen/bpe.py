"""Byte-level BPE tokens (``--level bpe``), learned with Hugging Face ``tokenizers``.

The tokenizer is GPT-2 style: text is cut into pre-tokens (words with their leading
space, digit runs, punctuation runs, whitespace), each pre-token's UTF-8 bytes start as
256 byte tokens, and the most frequent pairs are merged until the vocabulary reaches
``--vocab-size``. Every string encodes (there is no ``<unk>``) and
``decode(encode(text)) == text`` exactly.

The whole Hugging Face tokenizer (its JSON serialisation: vocabulary, merges,
pre-tokenizer, decoder) goes into the checkpoint's ``rnngen.tokenizer`` metadata, so a
checkpoint stays one self-contained file. Needs the ``bpe`` extra:
``pip install 'rnngen[bpe]'``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import numpy as np

from rnngen.errors import RnngenError, setting
from rnngen.token_ids import id_dtype

DEFAULT_VOCAB = 2048
MIN_VOCAB = 256  # the byte alphabet; anything above is merges
CHUNK_CHARS = 1 << 20


def _hf():
    try:
        import tokenizers  # Hugging Face's package (absolute import, not rnngen.tokenizers)
    except ImportError:
        raise RnngenError(
            f"{setting('level')} bpe needs the Hugging Face tokenizers package: pip install 'rnngen[bpe]'"
        ) from None
    return tokenizers


def _byte_decoder() -> dict[str, int]:
    """GPT-2's printable stand-in character for each byte, inverted."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def _chunks(text: str, size: int = CHUNK_CHARS) -> Iterator[str]:
    """Pieces of ``text`` cut after a line break that a non-space follows.

    No pre-token spans such a cut, so encoding the pieces gives exactly the tokens of
    encoding the whole text, with bounded memory and in parallel.
    """
    start, n = 0, len(text)
    while start < n:
        end = min(n, start + size)
        while end < n and not (text[end - 1] == "\n" and not text[end].isspace()):
            end += 1
        yield text[start:end]
        start = end


class BPETokenizer:
    """Byte-level BPE with the same interface as CharTokenizer and WordTokenizer."""

    level = "bpe"

    def __init__(self, hf_tokenizer):
        self.hf = hf_tokenizer
        mapping = hf_tokenizer.get_vocab(with_added_tokens=True)
        size = len(mapping)
        if sorted(mapping.values()) != list(range(size)):
            raise RnngenError("BPE tokenizer ids are not 0..N-1")
        vocab = [""] * size
        for token, i in mapping.items():
            vocab[i] = token
        self.vocab = vocab
        decoder = _byte_decoder()
        try:
            self._bytes = [bytes(decoder[ch] for ch in token) for token in vocab]
        except KeyError:
            raise RnngenError("the BPE tokenizer is not byte-level") from None
        # Text -> id for tokens that are whole characters (sampling starts from "\n").
        self.index: dict[str, int] = {}
        for i, b in enumerate(self._bytes):
            try:
                self.index.setdefault(b.decode("utf-8"), i)
            except UnicodeDecodeError:
                pass

    @classmethod
    def fit(cls, text: str, vocab_size: int | None = None) -> BPETokenizer:
        vocab_size = DEFAULT_VOCAB if vocab_size is None else vocab_size
        if vocab_size < MIN_VOCAB:
            raise RnngenError(
                f"{setting('vocab_size')} for {setting('level')} bpe must be at least {MIN_VOCAB} (the byte alphabet)"
            )
        hf = _hf()
        tok = hf.Tokenizer(hf.models.BPE())
        tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = hf.decoders.ByteLevel()
        trainer = hf.trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=2,
            show_progress=False,
            special_tokens=[],
            initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(),
        )
        tok.train_from_iterator(_chunks(text), trainer=trainer, length=None)
        return cls(tok)

    @classmethod
    def from_json(cls, doc: dict) -> BPETokenizer:
        spec = doc.get("hf")
        if not isinstance(spec, dict):
            raise RnngenError("checkpoint BPE tokenizer metadata is malformed (no 'hf' document)")
        hf = _hf()
        try:
            tok = hf.Tokenizer.from_str(json.dumps(spec))
        except Exception as exc:  # the Rust side raises its own Exception type
            raise RnngenError(f"checkpoint BPE tokenizer cannot be read: {str(exc).splitlines()[0]}") from None
        result = cls(tok)
        if result.vocab != doc.get("vocab"):
            raise RnngenError("checkpoint BPE tokenizer does not match its vocabulary")
        return result

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> np.ndarray:
        pieces = list(_chunks(text))
        dtype = id_dtype(self.vocab_size)
        if not pieces:
            return np.zeros(0, dtype=dtype)
        parts = [np.asarray(e.ids, dtype=dtype) for e in self.hf.encode_batch(pieces, add_special_tokens=False)]
        return np.concatenate(parts)

    def decode(self, ids: Iterable[int]) -> str:
        return b"".join(self._bytes[int(i)] for i in ids).decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        return self._bytes[token_id]

    def token_text(self, token_id: int) -> str:
        """The token as text; a token that is part of a character shows as U+FFFD."""
        return self._bytes[token_id].decode("utf-8", errors="replace")

    def to_json(self) -> dict:
        return {"level": self.level, "vocab": self.vocab, "hf": json.loads(self.hf.to_str())}
