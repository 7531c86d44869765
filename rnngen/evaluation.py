"""Loss, perplexity and bits per character of a model on a piece of text."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from rnngen.data import eval_windows
from rnngen.model import RNNLanguageModel


@dataclass(frozen=True)
class EvalResult:
    tokens: int  # tokens predicted (every token but the first)
    loss: float  # mean nats per predicted token
    perplexity: float
    bpc: float  # bits per character: total nats / characters predicted / ln 2

    def to_json(self) -> dict:
        return asdict(self)


def bits_per_char(total_nats: float, predicted_tokens: int, tokens: int, chars: int) -> float:
    """Bits per character, comparable across token levels.

    The first token is never predicted, so the characters counted are the text's
    characters scaled by the share of tokens predicted (exactly n-1 at char level).
    """
    predicted_chars = chars * predicted_tokens / max(tokens, 1)
    return total_nats / max(predicted_chars, 1e-9) / math.log(2)


@torch.no_grad()
def evaluate(
    model: RNNLanguageModel,
    ids: np.ndarray,
    chars: int,
    *,
    batch_size: int = 32,
    seq_len: int = 256,
    device: torch.device | str = "cpu",
    amp_dtype: torch.dtype | None = None,
) -> EvalResult:
    """Evaluate on every token of ``ids`` (the text had ``chars`` characters).

    ``amp_dtype`` runs the forward pass under autocast (training's quick evaluations);
    ``rnngen eval`` leaves it None and measures in float32.
    """
    was_training = model.training
    model.eval()
    total_nats = 0.0
    count = 0
    state = None
    try:
        for x, y, fresh in eval_windows(ids, batch_size, seq_len):
            x, y = x.to(device), y.to(device)
            if fresh or state is None or state[0].shape[1] != x.shape[0]:
                state = model.init_state(x.shape[0], device)
            with torch.autocast(
                torch.device(device).type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None
            ):
                logits, state = model(x, state)
            logits = logits.float()
            total_nats += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    finally:
        model.train(was_training)
    if count == 0:
        return EvalResult(tokens=0, loss=float("nan"), perplexity=float("nan"), bpc=float("nan"))
    loss = total_nats / count
    return EvalResult(
        tokens=count,
        loss=loss,
        perplexity=math.exp(min(loss, 700.0)),
        bpc=bits_per_char(total_nats, count, int(ids.size), chars),
    )
