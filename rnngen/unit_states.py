"""Every unit's state at every token of a long text, cheaply: the batched unroll behind ``rnngen units``.

``probes.inspect_ids`` reads one window step by step with autograd on (it records
gradients too), which is fine for a thousand tokens and slow for a few hundred
thousand. ``unit_states`` reads the same weights with the same equations, without
gradients, and cuts a long text into up to ``MAX_STREAMS`` stretches read side by
side (one matrix product per step for all of them). Each stretch but the first starts
``WARMUP`` tokens early, and those warm-up steps are dropped, so its state has settled
before it counts. A text of at most ``SINGLE_STREAM_MAX`` tokens is read in one piece:
then the states equal the probes' exactly (up to float rounding).

It yields the states chunk by chunk (never the whole (tokens x units) matrix at once,
which for 200,000 tokens and a 2x512 LSTM would be 1.6 GB):
``(positions, {(layer, "h"): (n, H), (layer, "c"): (n, H)})`` with ``positions`` the
token index of each row. Every position is yielded exactly once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from rnngen.errors import RnngenError
from rnngen.model import RNNLanguageModel

StateKey = tuple[int, str]  # (layer, "h" | "c"), layer counted from 0
Chunk = tuple[np.ndarray, dict[StateKey, np.ndarray]]

SINGLE_STREAM_MAX = 4096
STREAM_TOKENS = 2048  # aim for stretches about this long ...
MAX_STREAMS = 64  # ... but at most this many side by side
WARMUP = 256  # tokens each later stretch reads before its states count
CHUNK_STEPS = 128  # steps unrolled between two yields


def stream_layout(n: int, streams: int | None = None, warmup: int = WARMUP) -> tuple[np.ndarray, np.ndarray]:
    """Positions (streams, steps) each stretch reads, and which of them count.

    Stretch 0 reads from the start of the text; stretch b > 0 starts ``warmup`` tokens
    before its share. All stretches read as many steps; positions past the end are
    padding and never count.
    """
    if streams is None:
        streams = 1 if n <= SINGLE_STREAM_MAX else min(MAX_STREAMS, math.ceil(n / STREAM_TOKENS))
    streams = max(1, min(streams, n))
    if streams == 1:
        warmup = 0
    share = math.ceil(n / streams)
    steps = share + warmup
    j = np.arange(steps)
    b = np.arange(streams)[:, None]
    positions = np.where(b == 0, j, b * share - warmup + j)
    counts = np.where(b == 0, j < share, j >= warmup) & (positions < n)
    return positions, counts


def unit_states(
    model: RNNLanguageModel,
    ids: Sequence[int] | np.ndarray,
    *,
    layers: Sequence[int] | None = None,
    streams: int | None = None,
    warmup: int = WARMUP,
    chunk_steps: int = CHUNK_STEPS,
) -> Iterator[Chunk]:
    """Yield ``(positions, states)`` chunks covering every token of ``ids`` once.

    ``states`` holds h (and c for an LSTM) of each layer in ``layers`` (all by default),
    float32 (n, hidden). The model is read in evaluation mode (no dropout), from zero
    states.
    """
    cfg = model.config
    wanted = sorted(set(range(cfg.layers) if layers is None else layers))
    if not wanted or wanted[0] < 0 or wanted[-1] >= cfg.layers:
        raise RnngenError(f"layers must lie in [0, {cfg.layers})")
    ids_np = np.asarray(ids, dtype=np.int64).reshape(-1)
    n = ids_np.size
    if n == 0:
        raise RnngenError("no tokens to read")
    if ids_np.min() < 0 or ids_np.max() >= cfg.vocab_size:
        raise RnngenError(f"token ids must lie in [0, {cfg.vocab_size})")
    positions, counts = stream_layout(n, streams, warmup)
    device = model.head.weight.device
    grid = torch.from_numpy(ids_np[np.minimum(positions, n - 1)]).to(device)  # padding reads the last token
    B, steps = positions.shape
    H = cfg.hidden
    top = wanted[-1]
    with torch.no_grad():
        weights = [_layer_weights(model, k) for k in range(top + 1)]
        embedding = model.embedding.weight.detach().float()
        h = [torch.zeros(B, H, device=device) for _ in range(top + 1)]
        c = [torch.zeros(B, H, device=device) for _ in range(top + 1)] if cfg.cell == "lstm" else None
        for j0 in range(0, steps, chunk_steps):
            j1 = min(steps, j0 + chunk_steps)
            keep = counts[:, j0:j1]
            if not keep.any():
                continue
            x = embedding[grid[:, j0:j1]]  # (B, C, E)
            out: dict[StateKey, np.ndarray] = {}
            for k in range(top + 1):
                hs, cs = _run_layer(cfg.cell, weights[k], x, h, c, k)
                if k in wanted:
                    out[(k, "h")] = hs.cpu().numpy()[keep]
                    if cs is not None:
                        out[(k, "c")] = cs.cpu().numpy()[keep]
                x = hs
            yield positions[:, j0:j1][keep], out


def _layer_weights(model: RNNLanguageModel, k: int) -> tuple[torch.Tensor, ...]:
    rnn = model.rnn
    w_ih, w_hh, b_ih, b_hh = (
        getattr(rnn, f"{name}_l{k}").detach().float() for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    )
    return w_ih, w_hh.t().contiguous(), b_ih, b_hh


def _run_layer(
    cell: str,
    weights: tuple[torch.Tensor, ...],
    x: torch.Tensor,
    h: list[torch.Tensor],
    c: list[torch.Tensor] | None,
    k: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Layer ``k`` over the chunk ``x`` (B, C, in); updates h[k] (and c[k]) in the lists.

    The equations are probes.py's (torch's gate order); the input projection of the
    whole chunk is one matrix product, only the recurrence steps one token at a time.
    """
    w_ih, w_hh_t, b_ih, b_hh = weights
    H = w_hh_t.shape[0]
    gx = torch.matmul(x, w_ih.t()) + (b_ih if cell == "gru" else b_ih + b_hh)  # (B, C, G)
    hk = h[k]
    ck = c[k] if c is not None else None
    hs, cs = [], []
    for t in range(x.shape[1]):
        if cell == "lstm":
            assert ck is not None
            a = torch.addmm(gx[:, t], hk, w_hh_t)
            i, f, o = (torch.sigmoid(a[:, s * H : (s + 1) * H]) for s in (0, 1, 3))
            g = torch.tanh(a[:, 2 * H : 3 * H])
            ck = f * ck + i * g
            hk = o * torch.tanh(ck)
            cs.append(ck)
        elif cell == "gru":
            gh = torch.addmm(b_hh, hk, w_hh_t)
            rz = torch.sigmoid(gx[:, t, : 2 * H] + gh[:, : 2 * H])
            r, z = rz[:, :H], rz[:, H:]
            n = torch.tanh(gx[:, t, 2 * H :] + r * gh[:, 2 * H :])
            hk = n + z * (hk - n)
        else:
            hk = torch.tanh(torch.addmm(gx[:, t], hk, w_hh_t))
        hs.append(hk)
    h[k] = hk
    if c is not None:
        c[k] = ck  # type: ignore[assignment]
    return torch.stack(hs, 1), (torch.stack(cs, 1) if cs else None)
