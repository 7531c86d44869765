"""The language model: Embedding -> stacked RNN/LSTM/GRU -> Linear head.

Training runs torch's fused ``nn.LSTM``/``nn.GRU``/``nn.RNN`` over whole windows (oneDNN
on CPU, cuDNN on GPU). The step-by-step paths used for sampling and inspection read the
very same weights (see sampling.py and probes.py).

What each cell computes for input x_t and previous state (torch's gate order):

    RNN   h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
    LSTM  i, f, g, o = split(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
          c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
          h_t = sigmoid(o) * tanh(c_t)
    GRU   r, z, n computed from split(W_ih x_t + b_ih) and split(W_hh h_{t-1} + b_hh)
          n_t = tanh(x_n + sigmoid(r) * h_n);  h_t = (1 - sigmoid(z)) * n_t + sigmoid(z) * h_{t-1}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import torch
from torch import nn

from rnngen.errors import RnngenError, setting
from rnngen.units import model_label

CELLS = ("lstm", "gru", "rnn")
# Rows per gate block in weight_ih/weight_hh, in torch's order.
GATE_NAMES = {"lstm": ("input", "forget", "cell", "output"), "gru": ("reset", "update", "new"), "rnn": ()}

State = tuple[torch.Tensor, ...]  # (h,) for RNN/GRU, (h, c) for LSTM; each (layers, batch, hidden)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network's shape."""

    cell: str = "lstm"
    vocab_size: int = 0
    embed: int = 64
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.0
    tie: bool = False

    @property
    def label(self) -> str:
        """'LSTM 2x256'."""
        return model_label(self.cell, self.layers, self.hidden)

    def validate(self) -> None:
        if not isinstance(self.cell, str) or self.cell not in CELLS:
            raise RnngenError(f"unknown model {self.cell!r}: choose one of {', '.join(CELLS)}")
        for name in ("vocab_size", "embed", "hidden", "layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise RnngenError(f"--{name.replace('_', '-')} must be a positive whole number, not {value!r}")
        # Checked field by field: a checkpoint's metadata may hold any JSON value here.
        if not isinstance(self.dropout, (int, float)) or isinstance(self.dropout, bool):
            raise RnngenError(f"{setting('dropout')} must be a number, not {self.dropout!r}")
        if not isinstance(self.tie, bool):
            raise RnngenError(f"tie must be true or false, not {self.tie!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise RnngenError(f"{setting('dropout')} must be in [0, 1), not {self.dropout}")
        if self.tie and self.embed != self.hidden:
            raise RnngenError(
                f"{setting('tie')} needs {setting('embed')} equal to {setting('hidden')} (got {self.embed} and {self.hidden})"
            )

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict) -> ModelConfig:
        if not isinstance(doc, dict):
            raise RnngenError("checkpoint model metadata is malformed")
        known = {f.name for f in fields(cls)}
        try:
            config = cls(**{k: v for k, v in doc.items() if k in known})
        except TypeError as exc:
            raise RnngenError(f"checkpoint model metadata is malformed: {exc}") from None
        config.validate()
        return config


class RNNLanguageModel(nn.Module):
    """Predicts the next token at every position of a window of token ids."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed)
        rnn_class = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[config.cell]
        self.rnn = rnn_class(
            config.embed,
            config.hidden,
            num_layers=config.layers,
            dropout=config.dropout if config.layers > 1 else 0.0,
            batch_first=True,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.vocab_size)
        if config.tie:
            self.head.weight = self.embedding.weight
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.normal_(self.embedding.weight, std=0.1)
        if self.config.cell == "lstm":
            # A forget-gate bias of 1 lets memory persist from the start (Jozefowicz et al. 2015).
            h = self.config.hidden
            for name, param in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    with torch.no_grad():
                        param[h : 2 * h].fill_(1.0)
        nn.init.zeros_(self.head.bias)

    def init_output_bias(self, token_counts: torch.Tensor) -> None:
        """Start the head at the unigram distribution: bias = log p(token), add-one smoothed.

        Without it the first hundreds of updates go into learning word frequencies, and a
        word-level model can stall on that unigram plateau (loss ~ the unigram entropy) for
        most of a short run; with it the gradients are about context from step one.
        """
        counts = token_counts.double().reshape(-1)
        if counts.numel() != self.config.vocab_size:
            raise ValueError(f"need {self.config.vocab_size} counts, got {counts.numel()}")
        log_p = torch.log((counts + 1.0) / (counts.sum() + counts.numel()))
        with torch.no_grad():
            self.head.bias.copy_(log_p.to(self.head.bias))

    def init_for_sgd(self) -> None:
        """The start plain SGD at a large rate needs (word level): uniform +-0.1 embedding and
        head, a zero head bias, the cell's default initialisation (word_language_model's).

        Measured on tiny-shakespeare's words: from the unigram head bias SGD never left the
        unigram loss in five passes; from this start it passed word_language_model's own
        perplexity by the third (benchmarks/README.md, "Word level").
        """
        with torch.no_grad():
            nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
            if not self.config.tie:
                nn.init.uniform_(self.head.weight, -0.1, 0.1)
            nn.init.zeros_(self.head.bias)
        self.rnn.reset_parameters()

    def set_dropout(self, rate: float) -> None:
        """Change the dropout rate of a built model (the planner's re-check during a run)."""
        self.config = replace(self.config, dropout=rate)
        self.config.validate()
        self.drop.p = rate
        self.rnn.dropout = rate if self.config.layers > 1 else 0.0

    def init_state(self, batch: int, device: torch.device | str | None = None) -> State:
        c = self.config
        shape = (c.layers, batch, c.hidden)
        device = device or self.head.weight.device
        h = torch.zeros(shape, device=device)
        return (h, torch.zeros(shape, device=device)) if c.cell == "lstm" else (h,)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """x: (batch, time) token ids -> logits (batch, time, vocab) and the final state."""
        emb = self.drop(self.embedding(x))  # (B, T, E)
        if state is None:
            state = self.init_state(x.shape[0], x.device)
        rnn_state = state if self.config.cell == "lstm" else state[0]
        out, new_state = self.rnn(emb, rnn_state)  # out: (B, T, H)
        logits = self.head(self.drop(out))  # (B, T, V)
        new_state = tuple(new_state) if isinstance(new_state, tuple) else (new_state,)
        return logits, new_state

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def detach_state(state: State) -> State:
    """Cut the graph between windows: truncated BPTT carries values, not gradients."""
    return tuple(s.detach() for s in state)
