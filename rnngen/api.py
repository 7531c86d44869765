"""The Python API: ``rnngen.load(path)`` and ``rnngen.train(corpus, **options)``.

    >>> import rnngen
    >>> m = rnngen.train("notes.txt", steps=300, hidden=128, out="notes.safetensors")
    >>> m.sample(prime="The ", length=80, temp=0.8, seed=1)
    'The ...'
    >>> for piece in m.stream(prime="The ", length=20):
    ...     print(piece, end="")

The CLI's ``rnngen train`` is a thin shell over :func:`run_training`, which is what
:func:`train` runs too: the same trainer, the same checkpoints, the same metrics
writers, and distributed training (``train --nproc``, or several nodes under ``torchrun``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rnngen.errors import RnngenError


class Model:
    """A trained checkpoint, ready to sample, stream, inspect and evaluate."""

    def __init__(self, checkpoint, result=None):
        self.checkpoint = checkpoint
        self.path: Path | None = checkpoint.path
        self.tokenizer = checkpoint.tokenizer
        self.config = checkpoint.model_config
        self.train_info: dict = checkpoint.train
        self.net = checkpoint.build_model().eval()
        self.result = result  # the DoneEvent when this Model came from rnngen.train()
        self._step_model = None

    # -- facts

    @property
    def level(self) -> str:
        return self.tokenizer.level

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    @property
    def parameters(self) -> int:
        return self.net.num_parameters()

    @property
    def history(self) -> list[dict]:
        from rnngen.resume_state import valid_history

        return valid_history(self.train_info)

    def __repr__(self) -> str:
        c = self.config
        return (
            f"<rnngen.Model {c.label} {self.level} vocab {self.vocab_size}"
            f" step {self.train_info.get('step')} from {self.path}>"
        )

    # -- generation

    def _options(self, temp, top_k, top_p, repetition_penalty, penalty_window) -> dict:
        from rnngen.sampling import SamplingConfig, StepModel

        if self._step_model is None:
            self._step_model = StepModel(self.net)
        config = SamplingConfig(temperature=float(temp), top_k=int(top_k), top_p=float(top_p))
        penalty = None if repetition_penalty is None else (float(repetition_penalty), int(penalty_window))
        return dict(config=config, penalty=penalty, step_model=self._step_model)

    def sample(
        self,
        prime: str = "",
        length: int = 200,
        temp: float = 0.8,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int | None = None,
        *,
        stop: str | list[str] | tuple[str, ...] = (),
        stop_keep: bool = False,
        repetition_penalty: float | None = None,
        penalty_window: int = 64,
        beam: int | None = None,
    ) -> str:
        """``length`` new tokens after ``prime``; the returned text starts with ``prime``.

        ``stop``: end at the first of these texts (cut, or kept with ``stop_keep``).
        ``repetition_penalty``: CTRL's penalty on the last ``penalty_window`` tokens (1 = off).
        ``beam``: beam search with that many beams (deterministic; temp/top_k/top_p unused).
        """
        return self.samples(
            1, prime, length, temp, top_k, top_p, seed,
            stop=stop, stop_keep=stop_keep, repetition_penalty=repetition_penalty,
            penalty_window=penalty_window, beam=beam,
        )[0]  # fmt: skip

    def samples(
        self,
        num: int,
        prime: str = "",
        length: int = 200,
        temp: float = 0.8,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int | None = None,
        *,
        stop: str | list[str] | tuple[str, ...] = (),
        stop_keep: bool = False,
        repetition_penalty: float | None = None,
        penalty_window: int = 64,
        beam: int | None = None,
    ) -> list[str]:
        """``num`` independent samples, generated as one batch; each stops on its own.

        With ``beam``: the ``num`` best beams, best first.
        """
        stops = (stop,) if isinstance(stop, str) else tuple(stop)
        options = self._options(temp, top_k, top_p, repetition_penalty, penalty_window)
        if beam is not None:
            from rnngen.beam_search import beam_search

            found = beam_search(
                self.net, self.tokenizer, prime=prime, length=int(length), width=int(beam), num=int(num),
                stops=stops, stop_keep=stop_keep, penalty=options["penalty"], step_model=self._step_model,
            )  # fmt: skip
            return [b.text for b in found]
        from rnngen.sampling import run_samples

        results = run_samples(
            self.net, self.tokenizer, prime=prime, length=int(length), seed=seed, num=int(num),
            stops=stops, stop_keep=stop_keep, **options,
        )  # fmt: skip
        return [r.text for r in results]

    def stream(
        self,
        prime: str = "",
        length: int = 200,
        temp: float = 0.8,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int | None = None,
        *,
        stop: str | list[str] | tuple[str, ...] = (),
        stop_keep: bool = False,
        repetition_penalty: float | None = None,
        penalty_window: int = 64,
    ) -> Iterator[str]:
        """Yield the text of each new token as it is made (the prime itself is not yielded).

        ``prime + "".join(m.stream(...))`` equals ``m.sample(...)`` with the same arguments;
        with ``stop`` nothing past the stop is ever yielded.
        """
        from rnngen.sampling import stream_text

        stops = (stop,) if isinstance(stop, str) else tuple(stop)
        options = self._options(temp, top_k, top_p, repetition_penalty, penalty_window)
        yield from stream_text(
            self.net, self.tokenizer, prime=prime, length=int(length), seed=seed,
            stops=stops, stop_keep=stop_keep, **options,
        )  # fmt: skip

    # -- analysis

    def evaluate(self, text: str):
        """Loss, perplexity and bits per character on ``text`` (an EvalResult)."""
        from rnngen.evaluation import evaluate

        ids = self.tokenizer.encode(text)
        if ids.size < 2:
            raise RnngenError("the text to evaluate has fewer than 2 tokens")
        return evaluate(self.net, ids, len(text))

    def inspect(self, text: str, **options):
        """The inspection record for ``text`` (hidden states, gates, top-k, gradient through time)."""
        try:
            from rnngen import probes
        except ImportError:
            raise RnngenError("inspection needs rnngen.probes, which this installation lacks") from None
        for name in ("inspect_text", "inspect", "inspect_checkpoint"):
            fn = getattr(probes, name, None)
            if callable(fn):
                return fn(self.net, self.tokenizer, text, **options)
        raise RnngenError("rnngen.probes has no inspection entry point")


def load(path: str | Path) -> Model:
    """Open a checkpoint for sampling and inspection (no training state is kept in memory)."""
    from rnngen.checkpoint import load_checkpoint

    return Model(load_checkpoint(Path(path), with_training_state=False))


def run_training(
    config,
    corpus,
    *,
    out: Path | None = None,
    resume: Path | None = None,
    callback: Callable | None = None,
    explicit: set[str] | None = None,
    stop: threading.Event | None = None,
    log_jsonl: Path | None = None,
    tensorboard: Path | None = None,
    init_from: Path | None = None,
):
    """Run the trainer once (the CLI and :func:`train` both come here); returns the DoneEvent.

    As a rank (``WORLD_SIZE`` > 1 in the environment: one of ``--nproc``'s ranks, or
    torchrun's across nodes) this joins the process group and trains with DistributedDataParallel; only rank 0 calls ``callback``,
    writes metrics and saves checkpoints.
    """
    from rnngen.metrics import attach_metrics
    from rnngen.training import Trainer, distributed

    stop = stop or threading.Event()
    env = distributed.env()
    if env is None:
        callback, closers = attach_metrics(
            callback, log_jsonl=log_jsonl, tensorboard=tensorboard, append=resume is not None
        )
        try:
            trainer = Trainer(
                config, corpus, out=out, resume=resume, callback=callback, explicit=explicit, init_from=init_from
            )
            for closer in closers:
                closer.bind(trainer)
            return trainer.run(stop)
        finally:
            for closer in closers:
                closer.close()
    with distributed.process_group(env, config.device):
        closers = []
        if env.rank == 0:
            callback, closers = attach_metrics(
                callback, log_jsonl=log_jsonl, tensorboard=tensorboard, append=resume is not None
            )
        else:
            callback = None
        try:
            trainer = distributed.DistributedTrainer(
                env, config, corpus, out=out, resume=resume, callback=callback, explicit=explicit
            )
            for closer in closers:
                closer.bind(trainer)
            return trainer.run(stop)
        finally:
            for closer in closers:
                closer.close()


def train(
    corpus,
    *,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    callback: Callable | None = None,
    stop: threading.Event | None = None,
    progress: bool = False,
    log_jsonl: str | Path | None = None,
    tensorboard: str | Path | None = None,
    encoding: str = "utf-8",
    init_from: str | Path | None = None,
    **options,
) -> Model:
    """Train on ``corpus`` (a path, a built-in corpus name, or a ``Corpus``) and load the result.

    ``options`` are the CLI's training options with underscores: ``level``, ``model``
    (or ``cell``), ``layers``, ``hidden``, ``embed``, ``dropout``, ``seq_len``,
    ``batch_size``, ``lr``, ``steps`` / ``epochs`` / ``time`` ("90s", "5m" or seconds),
    ``vocab_size``, ``seed``, ``device``, ``threads``, ``bf16``, ... ``callback`` receives
    every TrainEvent; ``progress=True`` shows the CLI's progress bar; setting ``stop``
    (a ``threading.Event``) saves and stops. Returns the final checkpoint as a Model,
    with the DoneEvent in ``model.result``.
    """
    from rnngen.config import train_config
    from rnngen.corpus import Corpus, load_corpus

    config, explicit = train_config(options)
    if not isinstance(corpus, Corpus):
        corpus = load_corpus(str(corpus), encoding=encoding)
    kwargs: dict[str, Any] = dict(
        out=Path(out) if out else None,
        resume=Path(resume) if resume else None,
        init_from=Path(init_from) if init_from else None,
        explicit=explicit,
        stop=stop,
        log_jsonl=Path(log_jsonl) if log_jsonl else None,
        tensorboard=Path(tensorboard) if tensorboard else None,
    )
    if progress:
        from rnngen.progress import TrainingProgress

        with TrainingProgress() as bar:

            def both(event):
                bar.handle(event)
                if callback is not None:
                    callback(event)

            done = run_training(config, corpus, callback=both, **kwargs)
    else:
        done = run_training(config, corpus, callback=callback, **kwargs)
    model = load(done.out)
    model.result = done
    return model
