"""Generation for the server, run on a model's worker thread: a ``Job`` is one request, each of
its choices a ``ChoiceOutput``; ``run_alone`` answers one request by itself, ``run_together``
steps the rows of many requests as one batch.

``run_alone`` is exactly ``rnngen sample``'s sampler (``BatchRun`` with the request's seed and
``n`` as ``--num``), so a seeded or temperature-0 answer is the CLI's text and does not depend
on what else the server is doing. ``run_together`` primes each prompt on its own and joins the
states, so requests with different prompts and lengths share every later step; they must agree
on temperature, top-k and top-p (the TorchScript step takes one setting per batch).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch

from rnngen.api import Model
from rnngen.sample_controls import PieceMaker, StopWatcher
from rnngen.sampling import BatchRun, SamplingConfig, StepModel, encode_prime, prime_state, start_ids
from rnngen.server.responses import usage

# ("piece", index, text) | ("end", index, finish_reason) | ("done", usage) | ("failed", message)
Event = tuple
CHUNK = 16  # tokens per batched step: small enough to stream smoothly, big enough to hide call overhead


class Job:
    """One request on its way through a worker; its events go out in lists through ``deliver``."""

    def __init__(self, request, prompt_tokens: int, deliver: Callable[[list[Event]], None]):
        self.request = request
        self.prompt_tokens = prompt_tokens
        self.deliver = deliver
        self.cancelled = threading.Event()  # the client went away: stop spending time on it
        self.open = request.choices
        self.completion_tokens = 0
        self._events: list[Event] = []

    def add(self, event: Event) -> None:
        self._events.append(event)

    def flush(self) -> None:
        if self._events:
            events, self._events = self._events, []
            self.deliver(events)

    def choice_ended(self, tokens: int) -> None:
        self.completion_tokens += tokens
        self.open -= 1
        if self.open == 0:
            self.add(("done", usage(self.prompt_tokens, self.completion_tokens)))

    def fail(self, message: str) -> None:
        self._events = [("failed", message)]
        self.flush()


class ChoiceOutput:
    """One choice: its tokens become text (never past a stop) until a stop or ``max_tokens``."""

    def __init__(self, job: Job, index: int, model: Model, prompt: str):
        request = job.request
        self.job, self.index, self.limit = job, index, request.max_tokens
        self.maker = PieceMaker(model.tokenizer, after=prompt)
        self.watcher = StopWatcher(request.stops)
        self.tokens = 0
        self.ended = False

    def push(self, token_id: int) -> bool:
        """Take one token; True once this choice has ended."""
        self.tokens += 1
        self._say(self.watcher.push(self.maker.push(token_id)))
        if self.watcher.stopped:
            self._end("stop")
        elif self.tokens >= self.limit:
            self.close()
        return self.ended

    def close(self) -> None:
        """The end at the token limit: what was held back can no longer become a stop."""
        if not self.ended:
            self._say(self.watcher.push(self.maker.finish()))
            self._say(self.watcher.flush())
            self._end("stop" if self.watcher.stopped else "length")

    def _say(self, text: str) -> None:
        if text:
            self.job.add(("piece", self.index, text))

    def _end(self, reason: str) -> None:
        self.ended = True
        self.job.add(("end", self.index, reason))
        self.job.choice_ended(self.tokens)


def config_of(request) -> SamplingConfig:
    return SamplingConfig(temperature=request.temperature, top_k=request.top_k, top_p=request.top_p)


def run_alone(model: Model, stepper: StepModel, job: Job) -> None:
    """Each prompt as ``rnngen sample --num n --seed S --length max_tokens --stop ...`` would."""
    request = job.request
    for p, prompt in enumerate(request.prompts):
        outputs = [ChoiceOutput(job, p * request.n + i, model, prompt) for i in range(request.n)]
        run = BatchRun(
            model.net, model.tokenizer, prime=prompt, config=config_of(request), seed=request.seed,
            num=request.n, step_model=stepper,
        )  # fmt: skip
        for rows, ids, _stats in run.tokens(request.max_tokens):
            if job.cancelled.is_set():
                return
            for row, token_id in zip(rows, ids):
                if outputs[row].push(token_id):
                    run.finish(row)
            job.flush()
        for output in outputs:
            output.close()
        job.flush()


def prompt_ids(model: Model, prompt: str) -> torch.Tensor:
    """The prompt's token ids, or what sampling starts from when there is none (as ``BatchRun``)."""
    ids = encode_prime(model.tokenizer, prompt)[0] if prompt else start_ids(model.tokenizer)
    return ids if ids.numel() else start_ids(model.tokenizer)


def gumbel_noise(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    u = torch.rand(shape, generator=generator).clamp_(min=1e-20, max=1.0 - 1e-7)
    return -torch.log(-torch.log(u))


class TogetherRun:
    """The rows of several compatible requests, stepped as one batch; more may join between steps."""

    def __init__(self, model: Model, stepper: StepModel, config: SamplingConfig):
        self.model, self.stepper, self.config = model, stepper, config
        self.rows: list[ChoiceOutput] = []
        self.logits: torch.Tensor | None = None
        self.state: tuple[torch.Tensor, ...] = ()
        self.generator = torch.Generator()
        self.generator.seed()

    def add(self, job: Job) -> None:
        request = job.request
        for p, prompt in enumerate(request.prompts):
            outputs = [ChoiceOutput(job, p * request.n + i, self.model, prompt) for i in range(request.n)]
            if request.max_tokens == 0:
                for output in outputs:
                    output.close()
                continue
            logits, state = prime_state(self.model.net, prompt_ids(self.model, prompt), request.n)
            self._join(logits, state)
            self.rows.extend(outputs)
        job.flush()

    def _join(self, logits: torch.Tensor, state: tuple[torch.Tensor, ...]) -> None:
        if self.logits is None or not self.rows:
            self.logits, self.state = logits, tuple(state)
        else:
            self.logits = torch.cat([self.logits, logits])
            self.state = tuple(torch.cat([a, b], dim=1) for a, b in zip(self.state, state))

    def step(self) -> None:
        """CHUNK more tokens for every row; rows that end (or whose client left) leave the batch."""
        assert self.logits is not None
        gumbel = gumbel_noise((CHUNK, len(self.rows), self.logits.shape[-1]), self.generator)
        tokens, self.logits, self.state = self.stepper.run(self.logits, self.state, gumbel, self.config)
        per_row = tokens.t().tolist()
        keep = []
        for j, output in enumerate(self.rows):
            if output.job.cancelled.is_set():
                continue
            for token_id in per_row[j]:
                if output.push(token_id):
                    break
            if not output.ended:
                keep.append(j)
        for job in {id(o.job): o.job for o in self.rows}.values():
            job.flush()
        if len(keep) < len(self.rows):
            index = torch.tensor(keep, dtype=torch.long)
            self.rows = [self.rows[j] for j in keep]
            self.logits = self.logits.index_select(0, index)
            self.state = tuple(s.index_select(1, index) for s in self.state)


def run_together(
    model: Model,
    stepper: StepModel,
    jobs: list[Job],
    admit: Callable[[int], list[Job]],
    max_rows: int,
    count: Callable[[int, int], None] = lambda jobs, rows: None,
) -> None:
    """Answer ``jobs`` as one batch; between steps ``admit(room)`` hands over newly arrived
    compatible jobs (at most ``room`` rows), which join the batch at once. ``count(jobs, rows)``
    hears of each job that joins and the batch's size then."""
    run = TogetherRun(model, stepper, config_of(jobs[0].request))
    for job in jobs:
        run.add(job)
    count(len(jobs), len(run.rows))
    while True:
        joining = admit(max_rows - len(run.rows))
        for job in joining:
            run.add(job)
        if joining:
            count(len(joining), len(run.rows))
        if not run.rows:
            return
        run.step()
