"""Look inside a model: hidden states, gates, next-token guesses and gradients through time.

The training and sampling paths use torch's fused kernels (model.py) or the one-step
``StepModel`` (sampling.py) and carry no hooks, so looking costs nothing until someone
looks. ``inspect_ids`` / ``inspect_text`` instead unroll the *same weights* one step at a
time, layer by layer, and record as plain numpy data:

- ``hidden[k]``: h_t of layer k for every token, shape (T, H); ``cell[k]`` c_t for LSTM;
- ``gates[k][name]``: gate activations after their nonlinearity, (T, H) each:
  LSTM input/forget/output (sigmoid) and cell (the tanh candidate, torch's "g");
  GRU reset/update (sigmoid) and new (tanh); a plain RNN has none;
- ``top_k[t]``: the model's most likely next tokens after reading token t;
- ``token_probs[t]``: the probability the model gave token t before reading it
  (None for the first token, which nothing predicts);
- ``grad_through_time[k][t]``: ||dL/dh_t|| for layer k, where L is the loss of
  predicting the last token (``loss="last"``) or the mean loss over the window
  (``loss="mean"``). The last token's state predicts nothing that is scored, so its
  entry is 0. On a plain tanh RNN the norms shrink exponentially towards the start
  of the window (vanishing gradients); an LSTM's forget gate lets them survive.

Saturation (Karpathy, Johnson & Fei-Fei 2015): for each unit of a sigmoid gate, the
share of steps with the gate < 0.1 (left-saturated: "closed") and > 0.9
(right-saturated: "open").

This module imports no UI code (no click, rich or textual): the CLI, the TUI and the
training loop all call it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from rnngen.errors import RnngenError
from rnngen.model import GATE_NAMES, RNNLanguageModel, State
from rnngen.probe_stats import SIGMOID_GATES, gate_saturation, grad_decay_ratio
from rnngen.sampling import SamplingConfig, StepModel, choose_tokens, next_token_probs, start_ids
from rnngen.tokenizers import Tokenizer

LOSSES = ("last", "mean")
JSON_DECIMALS = 6  # hidden states, cells and gates in to_json(): plenty for values near [-1, 1]


@dataclass
class InspectionRecord:
    """Everything recorded while reading one window of tokens (plain numpy data)."""

    cell: str  # "lstm" | "gru" | "rnn"
    layers: int
    hidden_size: int
    token_ids: list[int]
    tokens: list[str]  # the token strings
    hidden: list[np.ndarray]  # per layer: (T, H) float32
    cell_state: list[np.ndarray] | None  # LSTM only: per layer (T, H)
    gates: list[dict[str, np.ndarray]]  # per layer: gate name -> (T, H)
    top_k: list[list[tuple[str, float]]]  # per token: [(next token, probability)], best first
    top_k_ids: list[list[int]]
    token_probs: list[float | None]  # probability of each token before it was read
    entropy: np.ndarray  # (T,) nats of the next-token distribution after each token
    grad_through_time: list[np.ndarray]  # per layer: (T,) ||dL/dh_t||
    loss: str  # "last" | "mean"
    loss_value: float | None  # None when the window has fewer than 2 tokens
    offset: int = 0  # tokens dropped from the front of the text (max_tokens)
    unknown: list[str] = field(default_factory=list)  # word level: words read as <unk>
    logits: np.ndarray | None = None  # (T, V), only with keep_logits=True

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)

    def saturation(self) -> list[dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Per layer: sigmoid gate -> (share of steps < 0.1, share > 0.9) per unit."""
        names = SIGMOID_GATES[self.cell]
        return [{n: gate_saturation(layer[n]) for n in names} for layer in self.gates]

    def grad_decay(self) -> list[float | None]:
        """Per layer: ||dL/dh_first|| / ||dL/dh_last scored|| (see ``grad_decay_ratio``)."""
        return [grad_decay_ratio(g) for g in self.grad_through_time]

    def to_json(self) -> dict:
        """The whole record as JSON-ready Python data (every number finite)."""

        def mat(a: np.ndarray) -> list:
            return np.round(a.astype(np.float64), JSON_DECIMALS).tolist()

        def finite(x: float | None) -> float | None:
            return float(x) if x is not None and math.isfinite(x) else None

        doc: dict = {
            "model": {"cell": self.cell, "layers": self.layers, "hidden": self.hidden_size},
            "loss": self.loss,
            "loss_value": finite(self.loss_value),
            "offset": self.offset,
            "tokens": list(self.tokens),
            "token_ids": list(self.token_ids),
            "token_probs": [finite(p) for p in self.token_probs],
            "entropy": [float(v) for v in self.entropy],
            "top_k": [[[tok, float(p)] for tok, p in row] for row in self.top_k],
            "hidden": [mat(h) for h in self.hidden],
        }
        if self.cell_state is not None:
            doc["cell"] = [mat(c) for c in self.cell_state]
        doc["gates"] = [{name: mat(v) for name, v in layer.items()} for layer in self.gates]
        doc["saturation"] = [
            {name: {"low": mat(lo), "high": mat(hi)} for name, (lo, hi) in layer.items()} for layer in self.saturation()
        ]
        doc["grad_through_time"] = [[float(v) for v in g] for g in self.grad_through_time]
        doc["grad_decay"] = [finite(r) for r in self.grad_decay()]
        if self.unknown:
            doc["unknown"] = list(self.unknown)
        return doc


def encode_text(tokenizer: Tokenizer, text: str) -> tuple[np.ndarray, list[str]]:
    """Token ids of ``text`` and, at word level, the words read as ``<unk>``.

    A character the model has never seen is an error (char level); so is text without
    any token.
    """
    if not text:
        raise RnngenError("the text to inspect is empty")
    unknown = tokenizer.unknown_words(text) if tokenizer.level == "word" else []  # type: ignore[attr-defined]
    ids = np.asarray(tokenizer.encode(text), dtype=np.int64)
    if ids.size == 0:
        raise RnngenError("the text to inspect has no tokens")
    return ids, unknown


# ---- the inspect path -------------------------------------------------------------------


def _weights(model: RNNLanguageModel, k: int) -> tuple[torch.Tensor, ...]:
    rnn = model.rnn
    return tuple(
        getattr(rnn, f"{name}_l{k}").detach().float() for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    )


def _unroll(
    model: RNNLanguageModel, ids: torch.Tensor, state: State | None
) -> tuple[torch.Tensor, list[list[torch.Tensor]], list[torch.Tensor], list[torch.Tensor] | None, list[dict]]:
    """Run the model's weights step by step over ``ids`` (T,).

    Returns logits (T, V), every step's h_t per layer as its own graph node (so one
    ``autograd.grad`` call yields dL/dh_t for all of them), the h and c of every layer
    as (T, H) tensors, and the gate activations. Layers run one after another: the
    input projection of a whole layer is one matmul and only the recurrence is a Python
    loop. Dropout is not applied (evaluation mode).
    """
    cfg = model.config
    H = cfg.hidden
    cell = cfg.cell
    device = model.head.weight.device
    T = ids.shape[0]
    x = model.embedding.weight.detach().float()[ids]  # (T, E)
    steps: list[list[torch.Tensor]] = []
    hidden: list[torch.Tensor] = []
    cells: list[torch.Tensor] | None = [] if cell == "lstm" else None
    gates: list[dict] = []
    for k in range(cfg.layers):
        w_ih, w_hh, b_ih, b_hh = _weights(model, k)
        # The starting state is a leaf that requires grad, so every h_t is in the graph.
        h = state[0][k, :1].detach().float().clone() if state is not None else torch.zeros(1, H, device=device)
        h.requires_grad_(True)
        c = None
        if cell == "lstm":
            c = state[1][k, :1].detach().float() if state is not None else torch.zeros(1, H, device=device)
        w_hh_t = w_hh.t()
        # Input projections for the whole layer at once; GRU keeps b_hh apart (r multiplies it).
        gx = torch.addmm(b_ih if cell == "gru" else b_ih + b_hh, x, w_ih.t()).split(1)
        outs: list[torch.Tensor] = []
        cs: list[torch.Tensor] = []
        sig: list[torch.Tensor] = []  # sigmoid gates of each step, concatenated
        tanh_gate: list[torch.Tensor] = []  # the tanh gate (LSTM cell candidate, GRU new)
        for t in range(T):
            if cell == "lstm":
                a = torch.addmm(gx[t], h, w_hh_t)  # (1, 4H): i, f, g, o
                s = torch.sigmoid(a)
                i, f, _, o = s.split(H, 1)
                g = torch.tanh(a[:, 2 * H : 3 * H])
                c = torch.addcmul(f * c, i, g)
                h = o * torch.tanh(c)
                sig.append(s)
                tanh_gate.append(g)
                cs.append(c)
            elif cell == "gru":
                gh = torch.addmm(b_hh, h, w_hh_t)  # (1, 3H): r, z, n
                xr, xn = gx[t].split(2 * H, 1)
                hr, hn = gh.split(2 * H, 1)
                s = torch.sigmoid(xr + hr)
                r, u = s.split(H, 1)
                n = torch.tanh(torch.addcmul(xn, r, hn))
                h = torch.addcmul(n, u, h - n)  # (1 - u) * n + u * h
                sig.append(s)
                tanh_gate.append(n)
            else:
                h = torch.tanh(torch.addmm(gx[t], h, w_hh_t))
            outs.append(h)
        steps.append(outs)
        layer_h = torch.cat(outs, 0)  # (T, H)
        hidden.append(layer_h)
        with torch.no_grad():
            layer_gates: dict[str, torch.Tensor] = {}
            if cell == "lstm":
                cells.append(torch.cat(cs, 0))  # type: ignore[union-attr]
                s_all = torch.cat(sig, 0)
                layer_gates = {
                    "input": s_all[:, :H],
                    "forget": s_all[:, H : 2 * H],
                    "cell": torch.cat(tanh_gate, 0),
                    "output": s_all[:, 3 * H :],
                }
            elif cell == "gru":
                s_all = torch.cat(sig, 0)
                layer_gates = {"reset": s_all[:, :H], "update": s_all[:, H:], "new": torch.cat(tanh_gate, 0)}
        assert tuple(layer_gates) == GATE_NAMES[cell]
        gates.append(layer_gates)
        x = layer_h
    logits = torch.addmm(model.head.bias.detach().float(), x, model.head.weight.detach().float().t())
    return logits, steps, hidden, cells, gates


def inspect_ids(
    model: RNNLanguageModel,
    ids: Sequence[int] | np.ndarray | torch.Tensor,
    *,
    tokenizer: Tokenizer | None = None,
    top_k: int = 5,
    loss: str = "last",
    state: State | None = None,
    keep_logits: bool = False,
) -> InspectionRecord:
    """Read token ids with the model's own weights, step by step, and record everything.

    ``state`` is an optional starting state ((layers, batch, H) tensors as the model
    uses; batch row 0 is read), zeros by default. Gradients flow only into the
    recording: the model's parameters and their ``.grad`` are untouched.
    """
    if loss not in LOSSES:
        raise RnngenError(f"loss must be one of {', '.join(LOSSES)}, not {loss!r}")
    if top_k < 1:
        raise RnngenError("top-k must be at least 1")
    cfg = model.config
    device = model.head.weight.device
    ids_t = torch.as_tensor(np.asarray(ids, dtype=np.int64) if not isinstance(ids, torch.Tensor) else ids)
    ids_t = ids_t.to(device=device, dtype=torch.long).reshape(-1)
    T = int(ids_t.shape[0])
    if T == 0:
        raise RnngenError("nothing to inspect: no tokens")
    if int(ids_t.min()) < 0 or int(ids_t.max()) >= cfg.vocab_size:
        raise RnngenError(f"token ids must lie in [0, {cfg.vocab_size})")
    with torch.enable_grad():
        logits, steps, hidden, cells, gates = _unroll(model, ids_t, state)
        logp = torch.log_softmax(logits, dim=-1)
        loss_value = None
        if T >= 2:
            if loss == "last":
                L = -logp[T - 2, ids_t[T - 1]]
            else:
                L = F.nll_loss(logp[:-1], ids_t[1:])
            flat = [h for layer in steps for h in layer]
            grads = torch.autograd.grad(L, flat, allow_unused=True, materialize_grads=True)
            grad_norms = [
                torch.cat(grads[k * T : (k + 1) * T], 0).norm(dim=1).cpu().numpy().astype(np.float64)
                for k in range(len(steps))
            ]
            loss_value = float(L.detach())
        else:
            grad_norms = [np.zeros(T) for _ in steps]
    with torch.no_grad():
        logp = logp.detach()
        probs = logp.exp()
        k = min(top_k, cfg.vocab_size)
        top_p, top_i = probs.topk(k, dim=-1)
        entropy = -(probs * logp).nan_to_num(0.0).sum(-1)
        token_probs: list[float | None] = [None]
        if T >= 2:
            token_probs += probs[torch.arange(T - 1, device=device), ids_t[1:]].cpu().tolist()
    id_list = ids_t.cpu().tolist()
    text_of = tokenizer.token_text if tokenizer is not None else str
    top_i_list, top_p_list = top_i.cpu().tolist(), top_p.cpu().tolist()
    return InspectionRecord(
        cell=cfg.cell,
        layers=cfg.layers,
        hidden_size=cfg.hidden,
        token_ids=id_list,
        tokens=[text_of(i) for i in id_list],
        hidden=[h.detach().cpu().numpy() for h in hidden],
        cell_state=[c.detach().cpu().numpy() for c in cells] if cells is not None else None,
        gates=[{n: v.detach().cpu().numpy() for n, v in layer.items()} for layer in gates],
        top_k=[[(text_of(i), p) for i, p in zip(row_i, row_p)] for row_i, row_p in zip(top_i_list, top_p_list)],
        top_k_ids=top_i_list,
        token_probs=token_probs,
        entropy=entropy.cpu().numpy().astype(np.float64),
        grad_through_time=grad_norms,
        loss=loss,
        loss_value=loss_value,
        logits=logits.detach().cpu().numpy() if keep_logits else None,
    )


def inspect_text(
    model: RNNLanguageModel,
    tokenizer: Tokenizer,
    text: str,
    *,
    top_k: int = 5,
    loss: str = "last",
    max_tokens: int | None = None,
    keep_logits: bool = False,
) -> InspectionRecord:
    """``inspect_ids`` on the tokens of ``text``; with ``max_tokens``, on its last ones."""
    ids, unknown = encode_text(tokenizer, text)
    offset = 0
    if max_tokens is not None:
        if max_tokens < 1:
            raise RnngenError("max-tokens must be at least 1")
        if ids.size > max_tokens:
            offset = int(ids.size - max_tokens)
            ids = ids[offset:]
    record = inspect_ids(model, ids, tokenizer=tokenizer, top_k=top_k, loss=loss, keep_logits=keep_logits)
    record.offset = offset
    record.unknown = unknown
    return record


# ---- sampling with a look at every step -------------------------------------------------


@dataclass(frozen=True)
class StepDetail:
    """One token of a generated (or prompted) text and what the model thought of it."""

    token_id: int
    prob: float | None  # the model's probability for this token (temperature 1); None: unpredicted
    sample_prob: float | None  # its probability under the sampling settings (None for prompt tokens)
    entropy: float | None  # nats of the model's distribution this token was drawn from
    top: tuple[tuple[int, float, float], ...]  # (token id, model p, sampling p), best first
    prompt: bool  # True for tokens of the prompt (read, not generated)


def _details(
    ids: torch.Tensor, model_probs: torch.Tensor, sample_probs: torch.Tensor | None, top_k: int, prompt: bool
) -> StepDetail:
    """Detail for the token ``ids`` drawn from the (V,) distributions."""
    token = int(ids)
    k = min(top_k, model_probs.shape[-1])
    top_p, top_i = model_probs.topk(k)
    sp = sample_probs if sample_probs is not None else model_probs
    top = tuple((int(i), float(p), float(sp[i])) for i, p in zip(top_i.tolist(), top_p.tolist()))
    logp = torch.log(model_probs.clamp_min(1e-30))
    ent = float(-(model_probs * logp).sum())
    return StepDetail(
        token_id=token,
        prob=float(model_probs[token]),
        sample_prob=float(sample_probs[token]) if sample_probs is not None else None,
        entropy=ent,
        top=top,
        prompt=prompt,
    )


def sample_with_details(
    model: RNNLanguageModel,
    tokenizer: Tokenizer,
    *,
    prompt: str = "",
    length: int = 200,
    config: SamplingConfig = SamplingConfig(),
    seed: int | None = None,
    top_k: int = 5,
    step_model: StepModel | None = None,
) -> Iterator[StepDetail]:
    """Yield every prompt token, then ``length`` generated ones, each with its distribution.

    The prompt is read token by token so that each of its tokens (but the first) also
    gets the probability the model gave it. Without a prompt the text starts with the
    sampler's start token (a line break where the vocabulary has one).
    """
    config.validate()
    if length < 0:
        raise RnngenError("length must be 0 or more")
    if prompt:
        ids, _ = encode_text(tokenizer, prompt)
        ids_t = torch.from_numpy(ids)
    else:
        ids_t = start_ids(tokenizer)
    stepper = step_model or StepModel(model)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    state = stepper.init_state(1)
    logits = None
    with torch.inference_mode():
        for token in ids_t.tolist():
            if logits is None:
                yield StepDetail(int(token), None, None, None, (), True)
            else:
                yield _details(torch.tensor(token), torch.softmax(logits[0], -1), None, top_k, True)
            logits, state = stepper.step(torch.tensor([token]), state)
        assert logits is not None  # the prompt has at least one token (start_ids)
        for _ in range(length):
            model_probs = torch.softmax(logits[0], -1)
            sample_probs = next_token_probs(logits, config)[0]
            new = choose_tokens(logits, config, generator)
            yield _details(new[0], model_probs, sample_probs, top_k, False)
            logits, state = stepper.step(new, state)
