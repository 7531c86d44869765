"""Byte-level BPE tokens (``--level bpe``), learned with Hugging Face ``tokenizers``.

The tokenizer is GPT-2 style: text is cut into pre-tokens (words with their leading
space, digit runs, punctuation runs, whitespace), each pre-token's UTF-8 bytes start as
256 byte tokens, and the most frequent pairs are merged until the vocabulary reaches
``--vocab-size``. Every string encodes (there is no ``<unk>``) and
``decode(encode(text)) == text`` exactly.

The whole Hugging Face tokenizer (its JSON serialisation: vocabulary, merges,
pre-tokenizer, decoder) goes into the checkpoint's ``rnngen.tokenizer`` metadata, so a
checkpoint stays one self-contained file. Loading never hands that document to the
library: the tokenizer is rebuilt from the vocabulary and merges alone, and a document
that asks for anything rnngen itself never writes (padding, truncation, a normalizer, a
post-processor, dropout, added tokens, another pre-tokenizer) is refused, since any of
them would silently change what every text encodes to. Needs the ``bpe`` extra:
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


def _assemble(hf, vocab: dict[str, int] | None = None, merges: list[tuple[str, str]] | None = None):
    """rnngen's one BPE pipeline: byte-level pre-tokens (no prefix space), a plain BPE model."""
    model = hf.models.BPE() if vocab is None else hf.models.BPE(vocab=vocab, merges=merges or [])
    tok = hf.Tokenizer(model)
    tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = hf.decoders.ByteLevel()
    return tok


# A stored document's fields, each with the only value rnngen writes for it (the library
# writes every field; older releases left some out, which means the same).
_FIXED_FIELDS: dict[str, object] = {
    "truncation": None,
    "padding": None,
    "added_tokens": [],
    "normalizer": None,
    "post_processor": None,
}
_MODEL_FIELDS: dict[str, object] = {
    "dropout": None,
    "unk_token": None,
    "continuing_subword_prefix": None,
    "end_of_word_suffix": None,
    "fuse_unk": False,
    "byte_fallback": False,
    "ignore_merges": False,
}
_BYTE_LEVEL_OPTIONS = {"add_prefix_space", "trim_offsets", "use_regex"}


def _refused(what: str) -> RnngenError:
    return RnngenError(f"checkpoint BPE tokenizer {what}: rnngen never writes that, so it is refused")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _vocab_and_merges(spec: object) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The vocabulary and merges of a stored Hugging Face document, after checking that it
    holds nothing else (see the module's docstring)."""
    if not isinstance(spec, dict):
        raise RnngenError("checkpoint BPE tokenizer metadata is malformed (no 'hf' document)")
    for key, value in spec.items():
        if key in _FIXED_FIELDS:
            if value != _FIXED_FIELDS[key]:
                raise _refused(f"sets {key}")
        elif key == "pre_tokenizer":
            _check_byte_level(key, value, add_prefix_space=False)
        elif key == "decoder":
            if value is not None:
                _check_byte_level(key, value, add_prefix_space=None)
        elif key not in ("version", "model"):
            raise _refused(f"has an unknown field {_shown(key)}")
    if "pre_tokenizer" not in spec:
        raise _refused("has no pre_tokenizer")
    model = spec.get("model")
    if not isinstance(model, dict):
        raise RnngenError("checkpoint BPE tokenizer has no model")
    if model.get("type") != "BPE":
        raise RnngenError(f"checkpoint BPE tokenizer has model type {_shown(model.get('type'))}, not BPE")
    for key, value in model.items():
        if key in _MODEL_FIELDS:
            if value != _MODEL_FIELDS[key] or type(value) is not type(_MODEL_FIELDS[key]):
                raise _refused(f"sets model {key}")
        elif key not in ("type", "vocab", "merges"):
            raise _refused(f"has an unknown model field {_shown(key)}")
    vocab = model.get("vocab")
    if not isinstance(vocab, dict) or not vocab:
        raise RnngenError("checkpoint BPE tokenizer vocab is malformed")
    decoder = _byte_decoder()
    for token, i in vocab.items():
        if not token or any(ch not in decoder for ch in token) or type(i) is not int:
            raise RnngenError(f"checkpoint BPE tokenizer vocab entry {_shown(token)} is malformed")
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise RnngenError("BPE tokenizer ids are not 0..N-1")
    return vocab, _merges(model.get("merges"), vocab)


def _check_byte_level(key: str, value: object, *, add_prefix_space: bool | None) -> None:
    """``value`` is the ByteLevel step rnngen writes (``add_prefix_space``: the value it
    must have, or None for any)."""
    options = value if isinstance(value, dict) else {}
    ok = (
        options.get("type") == "ByteLevel"
        and set(options) - {"type"} <= _BYTE_LEVEL_OPTIONS
        and all(isinstance(options[k], bool) for k in set(options) - {"type"})
        and options.get("use_regex", True) is True
        and (add_prefix_space is None or options.get("add_prefix_space") is add_prefix_space)
    )
    if not ok:
        raise _refused(f"sets a {key} other than rnngen's byte-level one")


def _merges(merges: object, vocab: dict[str, int]) -> list[tuple[str, str]]:
    """Each merge as a pair of tokens whose parts and whole are in the vocabulary (checked
    here: on some bad merges the library panics, printing a Rust backtrace on stderr)."""
    if not isinstance(merges, list):
        raise RnngenError("checkpoint BPE tokenizer merges are malformed")
    pairs: list[tuple[str, str]] = []
    for n, merge in enumerate(merges):
        # Releases before tokenizers 0.20 wrote "a b"; byte-level tokens hold no space.
        pair = merge.split(" ") if isinstance(merge, str) else merge
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(part, str) and part in vocab for part in pair)
            and pair[0] + pair[1] in vocab
        ):
            raise RnngenError(f"checkpoint BPE tokenizer merge {n} is malformed: {_shown(merge)}")
        pairs.append((pair[0], pair[1]))
    return pairs


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
        tok = _assemble(hf)
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
        vocab, merges = _vocab_and_merges(doc.get("hf"))
        hf = _hf()
        try:
            tok = _assemble(hf, vocab, merges)
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
