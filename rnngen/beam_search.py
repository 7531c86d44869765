"""Beam search: the continuations with the highest mean log-probability per token.

The ``width`` beams are one batch of the ``StepModel``: each new token costs one step
of ``width`` rows, one ``log_softmax`` and one ``topk`` over ``width x vocab`` scores,
so the work per token is about ``width`` times that of greedy sampling and independent of
how long the text already is. No randomness: the same prime gives the same beams.

A beam that produces a stop text is finished and set aside; the search goes on with the
best unfinished ones. Finished and unfinished beams are ranked together by their
length-normalised score (log-probability divided by the number of tokens), so a short
beam does not win just for being short.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnngen.errors import RnngenError, setting
from rnngen.model import RNNLanguageModel
from rnngen.sample_controls import PieceMaker, RepetitionPenalty, StopWatcher, check_stops
from rnngen.sampling import StepModel, encode_prime, prime_state, start_ids
from rnngen.tokenizers import Tokenizer, token_pieces


@dataclass
class Beam:
    ids: list[int]  # the new tokens
    logps: list[float]  # the log-probability of each under the (penalised) model
    text: str  # prime + the new text (cut at a stop unless kept)
    stopped: bool

    @property
    def score(self) -> float:
        """Mean log-probability per token (0 for an empty beam)."""
        return sum(self.logps) / len(self.logps) if self.logps else 0.0


def beam_search(
    model: RNNLanguageModel,
    tokenizer: Tokenizer,
    *,
    prime: str = "",
    length: int = 200,
    width: int = 5,
    num: int = 1,
    stops: tuple[str, ...] = (),
    stop_keep: bool = False,
    penalty: tuple[float, int] | None = None,
    step_model: StepModel | None = None,
) -> list[Beam]:
    """The ``num`` best of ``width`` beams after ``length`` new tokens (or their stops)."""
    if width < 1:
        raise RnngenError(f"{setting('beam')} must be at least 1, not {width}")
    if not 1 <= num <= width:
        raise RnngenError(f"{setting('num')} must be between 1 and {setting('beam')} ({width}) with beam search")
    if length < 0:
        raise RnngenError(f"{setting('length')} must be 0 or more")
    stops = check_stops(stops)
    model.eval()
    prime_ids = encode_prime(tokenizer, prime)[0] if prime else start_ids(tokenizer)
    if prime_ids.numel() == 0:
        prime_ids = start_ids(tokenizer)
    stepper = step_model or StepModel(model)
    logits, state = prime_state(model, prime_ids, 1)
    vocab = logits.shape[-1]
    pen = (
        RepetitionPenalty(penalty[0], penalty[1], prime_ids if prime else prime_ids[:0], 1, vocab) if penalty else None
    )
    if not stops:
        return _search_without_stops(stepper, tokenizer, prime, logits, state, pen, length, width, num)
    scores = torch.zeros(1)  # summed log-probability of each live beam
    # A beam's tokens as a linked chain of (token, logp, text shown, previous): extending a
    # beam costs O(1), however long it is; the texts are joined once, at the end.
    beams: list[tuple[_Node | None, PieceMaker, StopWatcher]] = [
        (None, PieceMaker(tokenizer, after=prime), StopWatcher(stops, keep=stop_keep))
    ]
    finished: list[tuple[_Node | None, bool]] = []
    with torch.inference_mode():
        for _ in range(length):
            steer = pen.apply(logits) if pen is not None else logits
            logp = torch.log_softmax(steer.float(), dim=-1)
            total = (scores[:, None] + logp).flatten()
            # Take enough candidates that `width` stay live even if some of them stop.
            top = torch.topk(total, min(total.numel(), 2 * width))
            new_beams: list[tuple[_Node | None, PieceMaker, StopWatcher]] = []
            parents, tokens, new_scores = [], [], []
            step_logps = logp.flatten()[top.indices].tolist()
            for flat, step_logp, summed in zip(top.indices.tolist(), step_logps, top.values.tolist()):
                parent, tok = divmod(flat, vocab)
                node, maker, watcher = beams[parent]
                maker, watcher = _copy_maker(maker), _copy_watcher(watcher)
                shown = watcher.push(maker.push(tok))
                node = (tok, step_logp, shown, node)
                if watcher.stopped:
                    finished.append((node, True))
                    continue
                new_beams.append((node, maker, watcher))
                parents.append(parent)
                tokens.append(tok)
                new_scores.append(summed)
                if len(new_beams) == width:
                    break
            beams = new_beams
            if not beams:
                break
            index = torch.tensor(parents)
            tok_t = torch.tensor(tokens)
            state = tuple(s.index_select(1, index) for s in state)
            if pen is not None:
                pen.select(index)
                pen.push(tok_t)
            logits, state = stepper.step(tok_t, state)
            scores = torch.tensor(new_scores)
    results = []
    for node, stopped in finished:
        results.append(_beam(node, prime, "", stopped))
    for node, maker, watcher in beams:
        results.append(_beam(node, prime, watcher.push(maker.finish()) + watcher.flush(), False))
    # Stable sort: equal scores keep the order the search found them in (deterministic).
    return sorted(results, key=lambda b: -b.score)[:num]


@torch.inference_mode()
def _search_without_stops(
    stepper: StepModel,
    tokenizer: Tokenizer,
    prime: str,
    logits: torch.Tensor,
    state: tuple,
    pen: RepetitionPenalty | None,
    length: int,
    width: int,
    num: int,
) -> list[Beam]:
    """Every beam has the same length, so no beam finishes early: the whole step is a few
    tensor operations (no Python per candidate); parents and tokens are kept per step and
    the beams are traced back once at the end."""
    vocab = logits.shape[-1]
    scores = torch.zeros(1)
    parents: list[torch.Tensor] = []
    chosen: list[torch.Tensor] = []
    step_logps: list[torch.Tensor] = []
    for _ in range(length):
        steer = pen.apply(logits) if pen is not None else logits
        logp = torch.log_softmax(steer.float(), dim=-1)
        top = torch.topk((scores[:, None] + logp).view(-1), min(width, logp.numel()))
        parent = torch.div(top.indices, vocab, rounding_mode="floor")
        tok = top.indices - parent * vocab
        parents.append(parent)
        chosen.append(tok)
        step_logps.append(logp.view(-1).index_select(0, top.indices))
        scores = top.values
        state = tuple(s.index_select(1, parent) for s in state)
        if pen is not None:
            pen.select(parent)
            pen.push(tok)
        logits, state = stepper.step(tok, state)
    beams = []
    for row in range(min(num, scores.numel())):
        ids, logps = [], []
        for t in range(length - 1, -1, -1):  # trace back through the parents
            ids.append(int(chosen[t][row]))
            logps.append(float(step_logps[t][row]))
            row = int(parents[t][row])
        ids.reverse()
        logps.reverse()
        pieces = list(token_pieces(tokenizer, ids, after=prime))
        beams.append(Beam(ids, logps, prime + "".join(pieces), False))
    # topk gives the beams best first; all have the same length, so the order is by score.
    return beams


_Node = tuple  # (token id, log-probability, text it showed, previous node or None)


def _beam(node: _Node | None, prime: str, tail: str, stopped: bool) -> Beam:
    ids: list[int] = []
    logps: list[float] = []
    texts = [tail]
    while node is not None:
        tok, lp, shown, node = node
        ids.append(tok)
        logps.append(lp)
        texts.append(shown)
    return Beam(ids[::-1], logps[::-1], prime + "".join(reversed(texts)), stopped)


def _copy_maker(maker: PieceMaker) -> PieceMaker:
    if maker.decoder is None and maker.tokenizer.level != "word":
        return maker  # character tokens: the maker holds no state
    new = PieceMaker.__new__(PieceMaker)
    new.tokenizer, new.token_bytes, new.last = maker.tokenizer, maker.token_bytes, maker.last
    new.decoder = None
    if maker.decoder is not None:
        new.decoder = type(maker.decoder)(errors="replace")
        new.decoder.setstate(maker.decoder.getstate())
    return new


def _copy_watcher(watcher: StopWatcher) -> StopWatcher:
    if not watcher.stops:
        return watcher  # nothing to watch: no state
    new = StopWatcher.__new__(StopWatcher)
    new.__dict__.update(watcher.__dict__)
    return new
