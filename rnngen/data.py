"""Token ids -> contiguous streams -> (x, y) windows for truncated backpropagation through time.

The training ids are cut into ``batch_size`` contiguous streams laid side by side
(pytorch/examples' ``batchify``). Window ``k`` of an epoch is columns
``[k*seq_len, (k+1)*seq_len)`` of every stream, so the hidden state left by window k is
the right starting state for window k+1: the model sees each stream as one long text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rnngen.errors import RnngenError, setting
from rnngen.token_ids import id_dtype
from rnngen.tokenizers import Tokenizer, WordTokenizer, build_tokenizer, text_chunks


@dataclass
class Split:
    """One part of the corpus, encoded."""

    ids: np.ndarray  # compact unsigned ints, one per token
    chars: int  # characters of text these tokens came from (for bits per character)

    @property
    def tokens(self) -> int:
        return int(self.ids.size)


def token_counts(ids: np.ndarray, vocab_size: int, chunk: int = 1 << 24) -> np.ndarray:
    """How often each id occurs, counted in chunks so compact ids are never widened all at once."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for start in range(0, ids.size, chunk):
        counts += np.bincount(ids[start : start + chunk], minlength=vocab_size)[:vocab_size]
    return counts


def split_point(text: str, val_frac: float) -> int:
    """Where validation starts: the last ``val_frac`` of the text (contiguous, like nanoGPT).

    The cut moves forward to the next whitespace so that no word is split in two; for
    character-level tokens that changes nothing but where the boundary falls.
    """
    if not 0.0 <= val_frac < 1.0:
        raise RnngenError(f"{setting('val_frac')} must be at least 0 and less than 1")
    if val_frac == 0.0:
        return len(text)
    cut = int(len(text) * (1.0 - val_frac))
    while cut < len(text) and not text[cut].isspace():
        cut += 1
    return cut


def split_text(text: str, val_frac: float) -> tuple[str, str]:
    """(train, validation) texts; see ``split_point``."""
    cut = split_point(text, val_frac)
    return text[:cut], text[cut:]


def encode_range(tokenizer: Tokenizer, text: str, start: int, end: int) -> Split:
    """Encode ``text[start:end]`` chunk by chunk, never copying the whole range at once."""
    if tokenizer.level not in ("char", "word"):
        return Split(ids=tokenizer.encode(text[start:end]), chars=end - start)
    if tokenizer.level == "char":
        # One id per character: fill a preallocated array, no second copy.
        ids = np.empty(end - start, dtype=id_dtype(tokenizer.vocab_size))
        pos = 0
        for chunk in text_chunks(text, start=start, end=end):
            ids[pos : pos + len(chunk)] = tokenizer.encode(chunk)
            pos += len(chunk)
        return Split(ids=ids, chars=end - start)
    parts = [tokenizer.encode(chunk) for chunk in text_chunks(text, start=start, end=end)]
    ids = np.concatenate(parts) if parts else np.zeros(0, dtype=id_dtype(tokenizer.vocab_size))
    return Split(ids=ids, chars=end - start)


def encode_split(tokenizer: Tokenizer, text: str) -> Split:
    return encode_range(tokenizer, text, 0, len(text))


def fit_and_encode(level: str, text: str, cut: int, vocab_size: int | None = None) -> tuple[Tokenizer, Split, Split]:
    """Build a tokenizer on the whole text and encode text[:cut] and text[cut:]."""
    if level == "word":
        words, (train_ids, val_ids) = WordTokenizer.fit_encode(
            [text_chunks(text, end=cut), text_chunks(text, start=cut)], vocab_size
        )
        return words, Split(train_ids, cut), Split(val_ids, len(text) - cut)
    tokenizer = build_tokenizer(level, text, vocab_size)
    return tokenizer, encode_range(tokenizer, text, 0, cut), encode_range(tokenizer, text, cut, len(text))


@dataclass(frozen=True)
class StreamLayout:
    """How a split is laid out as parallel streams and windows."""

    batch_size: int
    seq_len: int
    stream_len: int  # tokens per stream

    @property
    def windows_per_epoch(self) -> int:
        return max(1, (self.stream_len - 1) // self.seq_len)


def plan_layout(n_tokens: int, batch_size: int, seq_len: int) -> StreamLayout:
    """Fit the batch and window to the data, shrinking them for tiny corpora.

    A corpus must hold at least one (input, target) pair per stream; if it is shorter than
    one full window per stream, fewer streams and then shorter windows are used.
    """
    if batch_size < 1 or seq_len < 1:
        raise RnngenError(f"{setting('batch_size')} and {setting('seq_len')} must be at least 1")
    if n_tokens < 2:
        raise RnngenError(f"the training text has {n_tokens} token(s); at least 2 are needed to learn anything")
    batch = min(batch_size, max(1, (n_tokens - 1) // seq_len))
    stream_len = n_tokens // batch
    seq = min(seq_len, stream_len - 1)
    return StreamLayout(batch_size=batch, seq_len=seq, stream_len=stream_len)


class StreamBatches:
    """Serves window ``k`` of the training streams as a pair of (batch, seq_len) tensors."""

    def __init__(self, ids: np.ndarray, layout: StreamLayout):
        self.layout = layout
        used = layout.batch_size * layout.stream_len
        # A view, not a copy: ids stay in their compact dtype (one or two bytes per token);
        # only the current window is widened to int64.
        self.streams = np.ascontiguousarray(ids[:used]).reshape(layout.batch_size, layout.stream_len)

    def window(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.layout.seq_len
        start = (k % self.layout.windows_per_epoch) * s
        block = torch.from_numpy(self.streams[:, start : start + s + 1].astype(np.int64))
        return block[:, :-1], block[:, 1:]


def eval_windows(ids: np.ndarray, batch_size: int, seq_len: int):
    """Yield (x, y, fresh) windows covering every token of ``ids`` exactly once as a target.

    ``fresh`` says the window starts a new stream (start from a zero state); otherwise
    the state left by the previous window carries on.

    Evaluation uses the same carried-state layout as training, and keeps the ragged tail
    that training drops, so the loss is over the whole split.
    """
    n = int(ids.size)
    if n < 2:
        return
    batch = max(1, min(batch_size, (n - 1) // max(1, seq_len)))
    stream_len = (n - 1) // batch
    # Convert window by window: a big corpus stays in its compact dtype.
    main = batch * stream_len
    xs = ids[:main].reshape(batch, stream_len)
    ys = ids[1 : main + 1].reshape(batch, stream_len)
    as_long = lambda a: torch.from_numpy(np.ascontiguousarray(a).astype(np.int64))
    for start in range(0, stream_len, seq_len):
        yield as_long(xs[:, start : start + seq_len]), as_long(ys[:, start : start + seq_len]), start == 0
    # The ragged tail continues the text after the last stream; it gets a fresh state.
    tail_x, tail_y = ids[main : n - 1], ids[main + 1 : n]
    for start in range(0, tail_x.size, seq_len):
        yield (
            as_long(tail_x[start : start + seq_len])[None],
            as_long(tail_y[start : start + seq_len])[None],
            start == 0,
        )
