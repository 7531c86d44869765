"""Stateful text generation: O(1) work per new token, never re-feeding the text.

``StepModel`` runs the trained weights one step at a time with as few torch calls per
token as possible: the first layer's input projection is precomputed for every
vocabulary entry (a table look-up replaces the embedding and one matmul), and each
further layer does one fused ``addmm`` over [input, h]. Per-token Python overhead, not
arithmetic, is what limits batch-1 sampling on a CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from rnngen.errors import RnngenError, setting
from rnngen.model import RNNLanguageModel, State
from rnngen.sample_controls import PieceMaker, RepetitionPenalty, StopWatcher, check_stops
from rnngen.tokenizers import Tokenizer, join_words


@dataclass(frozen=True)
class SamplingConfig:
    """How to turn next-token logits into a choice."""

    temperature: float = 1.0  # 0 = always the most likely token
    top_k: int = 0  # 0 = no limit
    top_p: float = 1.0  # 1 = no nucleus cut

    def validate(self) -> None:
        if not self.temperature >= 0 or self.temperature != self.temperature:
            raise RnngenError(f"{setting('temp')} must be 0 or more, not {self.temperature}")
        if self.top_k < 0:
            raise RnngenError(f"{setting('top_k')} must be 0 (off) or more, not {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise RnngenError(f"{setting('top_p')} must be in (0, 1], not {self.top_p}")


def next_token_probs(logits: torch.Tensor, config: SamplingConfig) -> torch.Tensor:
    """Turn (N, V) logits into the (N, V) distribution that sampling draws from.

    Temperature divides the logits; top-k keeps the k most likely tokens; top-p keeps the
    smallest set of most likely tokens whose probability reaches p. Temperature 0 puts
    all mass on the argmax.
    """
    if config.temperature == 0:
        probs = torch.zeros_like(logits)
        probs.scatter_(-1, logits.argmax(-1, keepdim=True), 1.0)
        return probs
    logits = logits / config.temperature
    if 0 < config.top_k < logits.shape[-1]:
        kth = torch.topk(logits, config.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if config.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        # Keep a token if the mass before it is still short of p (so the top one always stays).
        before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
        keep_sorted = before < config.top_p
        keep = torch.zeros_like(keep_sorted).scatter_(-1, order, keep_sorted)
        probs = probs * keep
        probs = probs / probs.sum(-1, keepdim=True)
    return probs


def choose_tokens(
    logits: torch.Tensor, config: SamplingConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Pick one token id per row of (N, V) logits."""
    if config.temperature == 0:
        return logits.argmax(-1)
    probs = next_token_probs(logits, config)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.jit.script
def choose_with_noise(
    logits: torch.Tensor, gumbel: torch.Tensor, temperature: float, top_k: int, top_p: float
) -> torch.Tensor:
    """Pick one token per row: argmax(logits / T + Gumbel noise) draws from softmax(logits / T).

    The Gumbel-max trick turns sampling into an add and an argmax, with all the noise
    drawn up front in one call; top-k and top-p mask the logits exactly as
    ``next_token_probs`` filters the distribution.
    """
    if temperature == 0.0:
        return logits.argmax(-1)
    z = logits / temperature
    if top_k > 0 and top_k < z.shape[-1]:
        kth = torch.topk(z, top_k, dim=-1)[0][:, -1:]
        z = z.masked_fill(z < kth, float("-inf"))
    if top_p < 1.0:
        probs = torch.softmax(z, dim=-1)
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        keep_sorted = (torch.cumsum(sorted_probs, dim=-1) - sorted_probs) < top_p
        keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
        z = z.masked_fill(~keep, float("-inf"))
    return (z + gumbel).argmax(-1)


@torch.jit.script
def _run_chunk(
    cell: int,
    hidden: int,
    table: torch.Tensor,
    fused_t: list[torch.Tensor],
    in_bias: list[torch.Tensor],
    rec_bias: list[torch.Tensor],
    head_b: torch.Tensor,
    hs: list[torch.Tensor],
    cs: list[torch.Tensor],
    logits: torch.Tensor,
    gumbel: torch.Tensor,
    temperature: float,
    top_k: int,
    top_p: float,
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """Choose a token from ``logits``, step the network on it, repeat ``len(gumbel)`` times.

    The whole loop runs inside TorchScript: no Python between tokens. Each layer does one
    matmul per token: h_k @ [W_hh_k | W_ih_{k+1}] (the top layer: [W_hh | W_head]) gives
    both its own recurrent term for the next token and the next layer's input (or the
    logits), so the weights are read once. cell: 0 LSTM, 1 GRU, 2 RNN.
    """
    steps = gumbel.shape[0]
    out = torch.empty((steps, logits.shape[0]), dtype=torch.long)
    H = hidden
    G = 4 * H if cell == 0 else (3 * H if cell == 1 else H)  # width of the recurrent term
    # Plain temperature sampling needs no filtering: argmax(z / T + g) = argmax(z + T g),
    # so the head bias and temperature go into the noise once per chunk, and each token
    # costs one add and one argmax.
    plain = temperature > 0.0 and top_k == 0 and top_p >= 1.0
    noise = gumbel * temperature + head_b if plain else gumbel
    raw = logits - head_b  # the head's output before its bias
    # Recurrent terms W_hh h + bias of the current state (layer 0's biases are in the table).
    rec = [torch.mm(hs[k], fused_t[k][:, :G]) + rec_bias[k] for k in range(len(hs))]
    for t in range(steps):
        if plain:
            tok = (raw + noise[t]).argmax(-1)
        else:
            tok = choose_with_noise(raw + head_b, noise[t], temperature, top_k, top_p)
        out[t] = tok
        x = table[tok]  # layer 0's input projection, biases included
        for k in range(len(hs)):
            h = hs[k]
            if cell == 1:
                if k > 0:
                    x = x + in_bias[k]
                gh = rec[k]
                rz = torch.sigmoid(x[:, : 2 * H] + gh[:, : 2 * H])
                n = torch.tanh(x[:, 2 * H :] + rz[:, :H] * gh[:, 2 * H :])
                h = n + rz[:, H:] * (h - n)
            elif cell == 0:
                gates = x + rec[k]
                sg = torch.sigmoid(gates)
                c = sg[:, H : 2 * H] * cs[k] + sg[:, :H] * torch.tanh(gates[:, 2 * H : 3 * H])
                h = sg[:, 3 * H :] * torch.tanh(c)
                cs[k] = c
            else:
                h = torch.tanh(x + rec[k])
            hs[k] = h
            both = torch.mm(h, fused_t[k])
            # LSTM/RNN layer 0 has no bias here (it is in the table): skip an add per token.
            rec[k] = both[:, :G] + rec_bias[k] if (cell == 1 or k > 0) else both[:, :G]
            x = both[:, G:]
        raw = x
    return out, raw + head_b, hs, cs


class StepModel:
    """The model's weights rearranged for one-token-at-a-time inference."""

    def __init__(self, model: RNNLanguageModel):
        self.config = model.config
        self.cell = model.config.cell
        rnn = model.rnn
        with torch.no_grad():
            emb = model.embedding.weight.detach().float()
            self.layers: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []
            for k in range(self.config.layers):
                w_ih = getattr(rnn, f"weight_ih_l{k}").detach().float()
                w_hh = getattr(rnn, f"weight_hh_l{k}").detach().float()
                b_ih = getattr(rnn, f"bias_ih_l{k}").detach().float()
                b_hh = getattr(rnn, f"bias_hh_l{k}").detach().float()
                self.layers.append((w_ih, w_hh, b_ih, b_hh))
            w_ih0, _, b_ih0, b_hh0 = self.layers[0]
            if self.cell == "gru":
                # GRU keeps b_hh apart: the new gate multiplies it by r.
                self.input_table = torch.addmm(b_ih0, emb, w_ih0.t())
            else:
                self.input_table = torch.addmm(b_ih0 + b_hh0, emb, w_ih0.t())
            # For layers > 0 and non-GRU cells: one matmul over [x, h].
            self.stacked = [
                (torch.cat([w_ih, w_hh], 1).t().contiguous(), b_ih + b_hh) for (w_ih, w_hh, b_ih, b_hh) in self.layers
            ]
            self.w_hh_t = [w_hh.t().contiguous() for (_, w_hh, _, _) in self.layers]
            self.w_ih_t = [w_ih.t().contiguous() for (w_ih, _, _, _) in self.layers]
            self.head_w_t = model.head.weight.detach().float().t().contiguous()
            self.head_b = model.head.bias.detach().float()
            # For the TorchScript sampler: per layer [W_hh^T | next layer's W_ih^T or W_head^T].
            gru = self.cell == "gru"
            nxt = self.w_ih_t[1:] + [self.head_w_t]
            self.fused_t = [torch.cat([w_hh_t, n], 1).contiguous() for w_hh_t, n in zip(self.w_hh_t, nxt)]
            self.in_bias = [b_ih for (_, _, b_ih, _) in self.layers]  # GRU layers > 0
            # GRU: b_hh stays with W_hh h (r multiplies it). LSTM/RNN: layer 0's biases are in the
            # input table; deeper layers add b_ih + b_hh once, with the recurrent term.
            self.rec_bias = [
                b_hh if gru else (torch.zeros_like(b_hh) if k == 0 else b_ih + b_hh)
                for k, (_, _, b_ih, b_hh) in enumerate(self.layers)
            ]
        self.hidden = self.config.hidden

    def init_state(self, batch: int) -> State:
        shape = (self.config.layers, batch, self.hidden)
        h = torch.zeros(shape)
        return (h, torch.zeros(shape)) if self.cell == "lstm" else (h,)

    @torch.inference_mode()
    def run(
        self, logits: torch.Tensor, state: State, gumbel: torch.Tensor, config: SamplingConfig
    ) -> tuple[torch.Tensor, torch.Tensor, State]:
        """Generate ``len(gumbel)`` tokens in one TorchScript call: (tokens (T, N), logits, state)."""
        hs = list(state[0].unbind(0))
        cs = list(state[1].unbind(0)) if self.cell == "lstm" else []
        out, logits, hs, cs = _run_chunk(
            {"lstm": 0, "gru": 1, "rnn": 2}[self.cell],
            self.hidden,
            self.input_table,
            self.fused_t,
            self.in_bias,
            self.rec_bias,
            self.head_b,
            hs,
            cs,
            logits,
            gumbel,
            float(config.temperature),
            int(config.top_k),
            float(config.top_p),
        )
        new_state = (torch.stack(hs), torch.stack(cs)) if self.cell == "lstm" else (torch.stack(hs),)
        return out, logits, new_state

    @torch.inference_mode()
    def step(self, ids: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """ids: (N,) token ids -> logits (N, V) for the next token, and the new state."""
        hs = list(state[0].unbind(0))
        cs = list(state[1].unbind(0)) if self.cell == "lstm" else []
        x = ids  # layer k > 0 reads layer k-1's output; layer 0 reads the input table
        H = self.hidden
        for k in range(self.config.layers):
            h = hs[k]
            if self.cell == "gru":
                w_ih, w_hh, b_ih, b_hh = self.layers[k]
                gx = self.input_table[ids] if k == 0 else torch.addmm(b_ih, x, self.w_ih_t[k])
                gh = torch.addmm(b_hh, h, self.w_hh_t[k])
                r = torch.sigmoid(gx[:, :H] + gh[:, :H])
                z = torch.sigmoid(gx[:, H : 2 * H] + gh[:, H : 2 * H])
                n = torch.tanh(gx[:, 2 * H :] + r * gh[:, 2 * H :])
                h = n + z * (h - n)  # = (1 - z) * n + z * h
            else:
                if k == 0:
                    gates = torch.addmm(self.input_table[ids], h, self.w_hh_t[0])
                else:
                    w_cat, b = self.stacked[k]
                    gates = torch.addmm(b, torch.cat([x, h], 1), w_cat)
                if self.cell == "lstm":
                    i, f, g, o = gates.chunk(4, 1)
                    c = torch.sigmoid(f) * cs[k] + torch.sigmoid(i) * torch.tanh(g)
                    h = torch.sigmoid(o) * torch.tanh(c)
                    cs[k] = c
                else:
                    h = torch.tanh(gates)
            hs[k] = h
            x = h
        logits = torch.addmm(self.head_b, x, self.head_w_t)
        new_state = (torch.stack(hs), torch.stack(cs)) if self.cell == "lstm" else (torch.stack(hs),)
        return logits, new_state


@torch.inference_mode()
def prime_state(model: RNNLanguageModel, ids: torch.Tensor, batch: int) -> tuple[torch.Tensor, State]:
    """Run the prime through the fused path once: (logits after the last prime token, state)."""
    x = ids.unsqueeze(0).expand(batch, -1)
    logits, state = model(x)
    return logits[:, -1, :], state


def encode_prime(tokenizer: Tokenizer, prime: str) -> tuple[torch.Tensor, list[str]]:
    """Token ids for the prime; for word level also the words mapped to ``<unk>``.

    A character the model has never seen is an error (the model has no way to read
    it); at word level, unknown words become ``<unk>`` as they did in training.
    """
    unknown: list[str] = []
    if tokenizer.level == "word":
        unknown = tokenizer.unknown_words(prime)  # type: ignore[attr-defined]
    ids = tokenizer.encode(prime)
    return torch.from_numpy(ids.astype("int64")), unknown


def start_ids(tokenizer: Tokenizer) -> torch.Tensor:
    """What to feed when there is no prime: a line break if the corpus has one."""
    if "\n" in getattr(tokenizer, "index", {}):
        return torch.tensor([tokenizer.index["\n"]])  # type: ignore[attr-defined]
    return torch.tensor([0])


def generate(
    model: RNNLanguageModel,
    tokenizer: Tokenizer,
    *,
    prime: str = "",
    length: int = 200,
    config: SamplingConfig = SamplingConfig(),
    seed: int | None = None,
    num: int = 1,
    step_model: StepModel | None = None,
) -> Iterator[torch.Tensor]:
    """Yield a (num,) tensor of new token ids per step, ``length`` times.

    The prime (or a line break when there is none) is read with the fused path; every
    new token then costs one step of the cached state.
    """
    config.validate()
    if length < 0:
        raise RnngenError(f"{setting('length')} must be 0 or more")
    if num < 1:
        raise RnngenError(f"{setting('num')} must be at least 1")
    model.eval()
    ids = encode_prime(tokenizer, prime)[0] if prime else start_ids(tokenizer)
    if ids.numel() == 0:
        ids = start_ids(tokenizer)
    generator = torch.Generator()
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()
    stepper = step_model or StepModel(model)
    logits, state = prime_state(model, ids, num)
    vocab = logits.shape[-1]
    # Tokens per TorchScript call: long enough to hide call overhead, short enough to
    # stream smoothly and keep the pre-drawn noise small (chunk x num x vocab floats).
    chunk = max(1, min(128, (1 << 20) // (num * vocab)))
    done = 0
    while done < length:
        n = min(chunk, length - done)
        gumbel = _gumbel((n, num, vocab), generator)
        tokens, logits, state = stepper.run(logits, state, gumbel, config)
        yield from tokens
        done += n


def _gumbel(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    u = torch.rand(shape, generator=generator).clamp_(min=1e-20, max=1.0 - 1e-7)
    return -torch.log(-torch.log(u))


def sample_text(
    model: RNNLanguageModel,
    tokenizer: Tokenizer,
    *,
    prime: str = "",
    length: int = 200,
    config: SamplingConfig = SamplingConfig(),
    seed: int | None = None,
    num: int = 1,
) -> list[str]:
    """Generate ``num`` texts, each starting with the prime."""
    columns: list[list[int]] = [[] for _ in range(num)]
    for new in generate(model, tokenizer, prime=prime, length=length, config=config, seed=seed, num=num):
        for i, token_id in enumerate(new.tolist()):
            columns[i].append(token_id)
    return [continue_text(tokenizer, prime, col) for col in columns]


def continue_text(tokenizer: Tokenizer, prime: str, ids: list[int]) -> str:
    """The prime followed by the decoded new tokens (word level spaces them sensibly)."""
    if tokenizer.level == "word":
        return prime + join_words([tokenizer.token_text(i) for i in ids], after=prime)
    return prime + tokenizer.decode(ids)


@dataclass
class TokenRecord:
    """One generated token of one sample, for ``--format jsonl`` and ``--color``."""

    id: int
    text: str
    prob: float  # the model's probability for it (temperature 1, before top-k/top-p and the penalty)
    entropy_nats: float  # of that distribution


@dataclass
class SampleResult:
    """One finished sample: its text (starting with the prime) and, when asked for, its tokens."""

    text: str
    seed: int | None
    stopped: bool = False  # ended on a stop text rather than at ``length``
    tokens: list[TokenRecord] | None = None
    score: float | None = None  # beam search: mean log-probability per token


class BatchRun:
    """``num`` samples stepped as one batch; a sample leaves the batch when it finishes.

    Without the repetition penalty and per-token statistics the tokens come from the
    TorchScript loop in chunks; otherwise one ``StepModel.step`` per token. Either way
    the Gumbel noise is drawn for all ``num`` rows, so a sample's tokens do not depend on
    when the others finished.
    """

    def __init__(
        self,
        model: RNNLanguageModel,
        tokenizer: Tokenizer,
        *,
        prime: str = "",
        config: SamplingConfig = SamplingConfig(),
        seed: int | None = None,
        num: int = 1,
        step_model: StepModel | None = None,
        penalty: tuple[float, int] | None = None,
        with_stats: bool = False,
    ):
        config.validate()
        if num < 1:
            raise RnngenError(f"{setting('num')} must be at least 1")
        model.eval()
        ids = encode_prime(tokenizer, prime)[0] if prime else start_ids(tokenizer)
        if ids.numel() == 0:
            ids = start_ids(tokenizer)
        self.config, self.num, self.with_stats = config, num, with_stats
        self.generator = torch.Generator()
        if seed is not None:
            self.generator.manual_seed(seed)
        else:
            self.generator.seed()
        self.stepper = step_model or StepModel(model)
        self.logits, self.state = prime_state(model, ids, num)
        self.vocab = self.logits.shape[-1]
        history = ids if prime else ids[:0]
        self.penalty = RepetitionPenalty(penalty[0], penalty[1], history, num, self.vocab) if penalty else None
        self.rows = list(range(num))  # the samples still running, in batch order
        self._leaving: set[int] = set()

    def finish(self, row: int) -> None:
        """Sample ``row`` is done: it gets no more tokens and leaves the batch."""
        self._leaving.add(row)

    def tokens(self, length: int) -> Iterator[tuple[list[int], list[int], torch.Tensor | None]]:
        """Per new token: (rows, their token ids, (len(rows), 2) [prob, entropy] or None)."""
        if length < 0:
            raise RnngenError(f"{setting('length')} must be 0 or more")
        stepwise = self.penalty is not None or self.with_stats
        chunk = 1 if stepwise else max(1, min(128, (1 << 20) // (self.num * self.vocab)))
        done = 0
        while done < length and self.rows:
            n = min(chunk, length - done)
            gumbel = _gumbel((n, self.num, self.vocab), self.generator)
            index = torch.tensor(self.rows)
            gumbel = gumbel.index_select(1, index) if len(self.rows) < self.num else gumbel
            if stepwise:
                yield self._step(gumbel[0])
            else:
                tokens, self.logits, self.state = self.stepper.run(self.logits, self.state, gumbel, self.config)
                rows = list(self.rows)
                for t in range(n):
                    keep = [j for j, r in enumerate(rows) if r not in self._leaving]
                    if not keep:
                        break
                    ids = tokens[t].tolist()
                    yield [rows[j] for j in keep], [ids[j] for j in keep], None
            done += n
            self._drop_leaving()

    @torch.inference_mode()
    def _step(self, gumbel: torch.Tensor) -> tuple[list[int], list[int], torch.Tensor | None]:
        logits = self.logits
        stats = None
        if self.with_stats:
            logp = torch.log_softmax(logits.float(), dim=-1)
            entropy = -(logp.exp() * logp).nan_to_num().sum(-1)
        steer = self.penalty.apply(logits) if self.penalty is not None else logits
        c = self.config
        tok = choose_with_noise(steer, gumbel, float(c.temperature), int(c.top_k), float(c.top_p))
        if self.with_stats:
            stats = torch.stack([logp.gather(1, tok[:, None]).squeeze(1).exp(), entropy], 1)
        if self.penalty is not None:
            self.penalty.push(tok)
        self.logits, self.state = self.stepper.step(tok, self.state)
        return list(self.rows), tok.tolist(), stats

    def _drop_leaving(self) -> None:
        if not self._leaving:
            return
        keep = [j for j, r in enumerate(self.rows) if r not in self._leaving]
        self.rows = [self.rows[j] for j in keep]
        self._leaving.clear()
        if not keep:
            return
        index = torch.tensor(keep)
        self.logits = self.logits.index_select(0, index)
        self.state = tuple(s.index_select(1, index) for s in self.state)
        if self.penalty is not None:
            self.penalty.select(index)


def run_samples(
    model: RNNLanguageModel,
    tokenizer: Tokenizer,
    *,
    prime: str = "",
    length: int = 200,
    config: SamplingConfig = SamplingConfig(),
    seed: int | None = None,
    num: int = 1,
    stops: tuple[str, ...] = (),
    stop_keep: bool = False,
    penalty: tuple[float, int] | None = None,
    with_stats: bool = False,
    step_model: StepModel | None = None,
    on_text: Callable[[int, str], None] | None = None,
    on_token: Callable[[int, TokenRecord], None] | None = None,
) -> list[SampleResult]:
    """``num`` samples, each ending at its first stop text (or after ``length`` tokens).

    ``on_text(row, text)`` is called with each piece of a sample's text as soon as it is
    certain to be shown (never text past a stop); the prime is not passed to it.
    """
    stops = check_stops(stops)
    run = BatchRun(
        model,
        tokenizer,
        prime=prime,
        config=config,
        seed=seed,
        num=num,
        step_model=step_model,
        penalty=penalty,
        with_stats=with_stats,
    )
    makers = [PieceMaker(tokenizer, after=prime) for _ in range(num)]
    watchers = [StopWatcher(stops, keep=stop_keep) for _ in range(num)]
    texts: list[list[str]] = [[] for _ in range(num)]
    records: list[list[TokenRecord]] = [[] for _ in range(num)]

    def show(row: int, text: str) -> None:
        if text:
            texts[row].append(text)
            if on_text is not None:
                on_text(row, text)

    for rows, ids, stats in run.tokens(length):
        for j, (row, token_id) in enumerate(zip(rows, ids)):
            piece = makers[row].push(token_id)
            if with_stats and stats is not None:
                prob, ent = stats[j].tolist()
                records[row].append(TokenRecord(token_id, piece, prob, ent))
                if on_token is not None:  # before its text is shown (``with_stats`` only)
                    on_token(row, records[row][-1])
            show(row, watchers[row].push(piece))
            if watchers[row].stopped:
                run.finish(row)
    results = []
    for row in range(num):
        if not watchers[row].stopped:
            show(row, watchers[row].push(makers[row].finish()))
            show(row, watchers[row].flush())
        results.append(
            SampleResult(
                prime + "".join(texts[row]),
                seed,
                stopped=watchers[row].stopped,
                tokens=records[row] if with_stats else None,
            )
        )
    return results


def stream_text(
    model: RNNLanguageModel,
    tokenizer: Tokenizer,
    *,
    prime: str = "",
    length: int = 200,
    config: SamplingConfig = SamplingConfig(),
    seed: int | None = None,
    stops: tuple[str, ...] = (),
    stop_keep: bool = False,
    penalty: tuple[float, int] | None = None,
    step_model: StepModel | None = None,
) -> Iterator[str]:
    """One sample's new text, piece by piece as it is made, never past a stop (the prime is not yielded)."""
    watcher = StopWatcher(check_stops(stops), keep=stop_keep)
    run = BatchRun(model, tokenizer, prime=prime, config=config, seed=seed, step_model=step_model, penalty=penalty)
    maker = PieceMaker(tokenizer, after=prime)
    for _rows, ids, _stats in run.tokens(length):
        if text := watcher.push(maker.push(ids[0])):
            yield text
        if watcher.stopped:
            return
    if text := watcher.push(maker.finish()) + watcher.flush():
        yield text


@torch.inference_mode()
def token_records(model: RNNLanguageModel, tokenizer: Tokenizer, prime: str, ids: list[int]) -> list[TokenRecord]:
    """Per-token records for a finished continuation (beam search keeps no distribution):
    one fused pass over prime + tokens gives the model's probability and entropy at each."""
    if not ids:
        return []
    prime_ids = encode_prime(tokenizer, prime)[0] if prime else start_ids(tokenizer)
    if prime_ids.numel() == 0:
        prime_ids = start_ids(tokenizer)
    seq = torch.cat([prime_ids, torch.tensor(ids, dtype=torch.long)])
    logits, _ = model.eval()(seq[None, :-1])
    logp = torch.log_softmax(logits[0, len(prime_ids) - 1 :].float(), dim=-1)
    chosen = logp.gather(1, torch.tensor(ids)[:, None]).squeeze(1).exp().tolist()
    entropy = (-(logp.exp() * logp).nan_to_num().sum(-1)).tolist()
    maker = PieceMaker(tokenizer, after=prime)
    pieces = [maker.push(i) for i in ids]
    pieces[-1] += maker.finish()
    return [TokenRecord(i, t, p, h) for i, t, p, h in zip(ids, pieces, chosen, entropy)]
