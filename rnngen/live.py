"""Live training: pause, save-now, periodic probes and preview samples, with no UI code.

A ``LiveSession`` wraps a ``Trainer``. It adds a hook to ``Trainer.between_steps`` (so
everything runs in the training thread, between two optimizer steps, on the current
weights) and passes the trainer's events on to a callback together with its own:

- ``ProbeEvent``: gradient through time ||dL/dh_t|| for every layer and step of a fixed
  probe window, and the top layer's hidden states there. Computed every few seconds
  (time-based, so its cost stays a small share of training whatever the model size).
- ``PreviewEvent``: a fresh sample at each evaluation (and on request), drawn with a
  private random generator so the training run is the same with or without it.
- ``PausedEvent``: pausing and resuming.

The dashboard (``rnngen.tui``) and ``rnngen compare`` drive it; tests drive it directly.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from rnngen.model import RNNLanguageModel
from rnngen.probe_stats import grad_decay_ratio
from rnngen.probes import inspect_ids
from rnngen.sampling import SamplingConfig, sample_text
from rnngen.training import DoneEvent, EvalEvent, Trainer, TrainEvent


@dataclass
class ProbeEvent:
    step: int
    grad_norms: list[list[float]]  # [layer][t] = ||dL/dh_t|| (L = loss at the window's last step)
    hidden: list[list[float]]  # [t][unit], top layer, the probe window
    tokens: list[str]  # the window's input tokens, as text
    decay_ratio: float | None  # ||dL/dh_1|| / ||dL/dh_T|| on the top layer (0: vanished; None: unknown)
    seconds: float  # what the probe cost


@dataclass
class PreviewEvent:
    step: int
    text: str
    temperature: float


@dataclass
class PausedEvent:
    step: int
    paused: bool


LiveEvent = TrainEvent | ProbeEvent | PreviewEvent | PausedEvent


# ---- gradient through time -----------------------------------------------------------------


@dataclass
class Unroll:
    grad_norms: list[list[float]]  # [layer][t]
    hidden: list[list[float]]  # [t][unit] of the top layer
    loss: float

    @property
    def decay_ratio(self) -> float | None:
        """||dL/dh_1|| / ||dL/dh_T|| on the top layer: 1 = no decay, 0 = vanished, None = unknown."""
        return grad_decay_ratio(self.grad_norms[-1])


def gradient_through_time(model: RNNLanguageModel, ids: torch.Tensor) -> Unroll:
    """Read the token ids ``ids`` (1-D, T+1 tokens) with ``rnngen.probes``' step-by-step
    engine from a zero state; L is the loss of predicting the last token. Returns
    ||dL/dh_t|| for every layer and the T steps that lead to that prediction, and the top
    layer's hidden states there. Parameters and their ``.grad`` are untouched; no dropout.
    """
    record = inspect_ids(model, ids, loss="last", top_k=1)
    T = max(1, record.num_tokens - 1)  # the last token's own state predicts nothing scored
    return Unroll(
        grad_norms=[np.asarray(g[:T], dtype=np.float64).tolist() for g in record.grad_through_time],
        hidden=record.hidden[-1][:T].tolist(),
        loss=float("nan") if record.loss_value is None else record.loss_value,
    )


def probe_window(trainer: Trainer, length: int) -> tuple[torch.Tensor, list[str]]:
    """A fixed window of ``length`` + 1 tokens for probes: the start of the validation text
    (else of the training text)."""
    ids = trainer.val_split.ids if trainer.val_split.tokens >= 4 else trainer.train_split.ids
    n = max(2, min(length + 1, int(ids.size)))
    window = torch.from_numpy(ids[:n].astype("int64"))
    tokens = [trainer.tokenizer.token_text(int(i)) for i in window[:-1].tolist()]
    return window, tokens


# ---- the session -----------------------------------------------------------------------------


class LiveSession:
    """Controls and extra observations for a ``Trainer``, all run in its thread.

    Call ``run()`` in a worker thread; from any other thread call ``pause()``,
    ``resume()``, ``request_save()``, ``request_preview()``, ``set_temperature()`` and
    ``stop()``. Events go to ``callback`` from the training thread: keep it cheap.
    """

    def __init__(
        self,
        trainer: Trainer,
        callback: Callable[[object], None] | None = None,
        *,
        probe_every_s: float = 3.0,
        probe_len: int = 96,
        preview_len: int = 160,
        temperature: float = 0.8,
    ):
        self.trainer = trainer
        self.callback = callback or (lambda event: None)
        self.probe_every_s = probe_every_s
        self.preview_len = preview_len
        self.temperature = temperature
        self.stop_event = threading.Event()
        self._running = threading.Event()  # set = not paused
        self._running.set()
        self._save_requested = threading.Event()
        self._preview_requested = threading.Event()
        self._last_probe = -math.inf
        self.probe_ids, self.probe_tokens = probe_window(trainer, probe_len)
        self.probe_seconds = 0.0  # total time spent probing, for the cost budget
        self._probe_cost = 0.0  # seconds the last probe took
        self.preview_seconds = 0.0
        self.done: DoneEvent | None = None
        self.started = threading.Event()
        self.finished = threading.Event()  # set when run() has returned (or raised)
        trainer.callback = self._on_train_event
        trainer.param_norms_wanted = True  # the dashboard shows them
        trainer.between_steps.append(self._between_steps)

    # -- controls (any thread)

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        if self._running.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def request_save(self) -> None:
        self._save_requested.set()

    def request_preview(self) -> None:
        self._preview_requested.set()

    def set_temperature(self, value: float) -> None:
        self.temperature = max(0.0, float(value))
        self._preview_requested.set()

    def stop(self) -> None:
        self.stop_event.set()
        self._running.set()

    # -- the training thread

    def run(self) -> DoneEvent:
        self.started.set()
        try:
            self.probe()  # the untrained profile, so there is something to compare with
            self.done = self.trainer.run(self.stop_event)
            return self.done
        finally:
            self.finished.set()

    @property
    def running(self) -> bool:
        return self.started.is_set() and not self.finished.is_set()

    def _on_train_event(self, event: TrainEvent) -> None:
        self.callback(event)
        if isinstance(event, EvalEvent):
            self.preview()
        elif isinstance(event, DoneEvent):
            self.probe()

    def _between_steps(self, trainer: Trainer) -> None:
        self._service()
        if not self._running.is_set():
            self.callback(PausedEvent(trainer.step, True))
            while not self._running.wait(0.05):
                if self.stop_event.is_set():
                    break
                self._service()
            self.callback(PausedEvent(trainer.step, False))
        # Every few seconds, and never more than ~2% of the time (big models probe less often).
        if time.perf_counter() - self._last_probe >= max(self.probe_every_s, 50 * self._probe_cost):
            self.probe()

    def _service(self) -> None:
        if self._save_requested.is_set():
            self._save_requested.clear()
            self.trainer.save()
        if self._preview_requested.is_set():
            self.preview()

    def probe(self) -> ProbeEvent:
        t0 = time.perf_counter()
        unroll = gradient_through_time(self.trainer.model, self.probe_ids)
        seconds = time.perf_counter() - t0
        self.probe_seconds += seconds
        self._probe_cost = seconds
        self._last_probe = time.perf_counter()
        event = ProbeEvent(
            step=self.trainer.step,
            grad_norms=unroll.grad_norms,
            hidden=unroll.hidden,
            tokens=self.probe_tokens,
            decay_ratio=unroll.decay_ratio,
            seconds=seconds,
        )
        self.callback(event)
        return event

    def preview(self) -> PreviewEvent:
        """Sample from the current weights (usable from any thread once training has ended)."""
        self._preview_requested.clear()
        t0 = time.perf_counter()
        temperature = self.temperature
        was_training = self.trainer.model.training
        text = sample_text(
            self.trainer.model,
            self.trainer.tokenizer,
            length=self.preview_len,
            config=SamplingConfig(temperature=temperature),
            seed=self.trainer.step,
        )[0]
        self.trainer.model.train(was_training)
        self.preview_seconds += time.perf_counter() - t0
        event = PreviewEvent(step=self.trainer.step, text=text, temperature=temperature)
        self.callback(event)
        return event
