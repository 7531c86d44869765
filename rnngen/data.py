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

from rnngen.errors import RnngenError
from rnngen.tokenizers import Tokenizer


@dataclass
class Split:
    """One part of the corpus, encoded."""

    ids: np.ndarray  # compact unsigned ints, one per token
    chars: int  # characters of text these tokens came from (for bits per character)

    @property
    def tokens(self) -> int:
        return int(self.ids.size)


def split_text(text: str, val_frac: float) -> tuple[str, str]:
    """Train on the first part, validate on the last ``val_frac`` (contiguous, like nanoGPT).

    The cut moves forward to the next whitespace so that no word is split in two; for
    character-level tokens that changes nothing but where the boundary falls.
    """
    if not 0.0 <= val_frac < 1.0:
        raise RnngenError("--val-frac must be at least 0 and less than 1")
    if val_frac == 0.0:
        return text, ""
    cut = int(len(text) * (1.0 - val_frac))
    while cut < len(text) and not text[cut].isspace():
        cut += 1
    return text[:cut], text[cut:]


def encode_split(tokenizer: Tokenizer, text: str) -> Split:
    return Split(ids=tokenizer.encode(text), chars=len(text))


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
        raise RnngenError("--batch-size and --seq-len must be at least 1")
    if n_tokens < 2:
        raise RnngenError(
            f"the training text has {n_tokens} token(s); at least 2 are needed to learn anything"
        )
    batch = min(batch_size, max(1, (n_tokens - 1) // seq_len))
    stream_len = n_tokens // batch
    seq = min(seq_len, stream_len - 1)
    return StreamLayout(batch_size=batch, seq_len=seq, stream_len=stream_len)


class StreamBatches:
    """Serves window ``k`` of the training streams as a pair of (batch, seq_len) tensors."""

    def __init__(self, ids: np.ndarray, layout: StreamLayout):
        self.layout = layout
        used = layout.batch_size * layout.stream_len
        # int64 copy of the used part only: (batch, stream_len), rows are streams.
        self.streams = torch.from_numpy(
            ids[:used].astype(np.int64).reshape(layout.batch_size, layout.stream_len)
        )

    def window(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.layout.seq_len
        start = (k % self.layout.windows_per_epoch) * s
        x = self.streams[:, start : start + s]
        y = self.streams[:, start + 1 : start + s + 1]
        return x, y


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
    data = torch.from_numpy(ids.astype(np.int64))
    # Each stream gets stream_len targets; the remainder becomes a final batch-1 stream.
    main = batch * stream_len
    xs = data[:main].reshape(batch, stream_len)
    ys = data[1 : main + 1].reshape(batch, stream_len)
    for start in range(0, stream_len, seq_len):
        yield xs[:, start : start + seq_len], ys[:, start : start + seq_len], start == 0
    tail_x = data[main : n - 1]
    tail_y = data[main + 1 : n]
    if tail_x.numel():
        # The tail continues the last stream's text; a fresh state is a fair approximation.
        for start in range(0, tail_x.numel(), seq_len):
            yield (
                tail_x[start : start + seq_len].unsqueeze(0),
                tail_y[start : start + seq_len].unsqueeze(0),
                start == 0,
            )
