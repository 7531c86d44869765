"""The training loop: truncated BPTT, AdamW with warm-up and cosine decay, clipping,
evaluation, checkpoints and faithful resume.

The loop knows nothing about terminals: it reports what happens through a callback
(``TrainEvent`` objects) and stops when a ``threading.Event`` is set, so the CLI's
progress bar and the TUI dashboard drive the very same code.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from rnngen.checkpoint import (
    OPTIM_PREFIX,
    Checkpoint,
    is_rnngen_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from rnngen.config import TrainConfig, merge_resume_config, validate_config
from rnngen.corpus import Corpus
from rnngen.corpus_cache import cache_key, load_encoded, save_encoded
from rnngen.data import Split, StreamBatches, encode_range, fit_and_encode, plan_layout, split_point, token_counts
from rnngen.errors import RnngenError, setting
from rnngen.evaluation import EvalResult, evaluate
from rnngen.model import ModelConfig, RNNLanguageModel, State, detach_state
from rnngen.planner import Plan, Shape, eval_tokens_for, measure_speed, plan
from rnngen.tokenizers import Tokenizer

# ---- events -------------------------------------------------------------------------


@dataclass
class StartEvent:
    config: TrainConfig
    model_config: ModelConfig
    parameters: int
    train_tokens: int
    val_tokens: int
    vocab_size: int
    start_step: int
    total_steps: int | None
    time_budget_s: float | None
    out: Path
    notes: list[str] = field(default_factory=list)
    plan: str | None = None  # what the budget buys and what was chosen for it


@dataclass
class StepEvent:
    step: int  # steps completed
    loss: float
    bpc: float
    grad_norm: float  # global norm before clipping
    clipped: bool
    lr: float
    tokens_per_s: float
    elapsed_s: float  # training time of the whole run, resumes included
    progress: float  # 0..1 of the budget
    eta_s: float | None
    param_grad_norms: dict[str, float] | None = None


@dataclass
class EvalEvent:
    step: int
    train_loss: float
    val: EvalResult | None
    best: bool


@dataclass
class SavedEvent:
    step: int
    path: Path
    best_path: Path | None


@dataclass
class AlarmEvent:
    step: int
    message: str
    parameter: str


@dataclass
class DoneEvent:
    step: int
    reason: str  # "budget", "stopped" or "diverged"
    out: Path
    best_path: Path | None
    val: EvalResult | None


TrainEvent = StartEvent | StepEvent | EvalEvent | SavedEvent | AlarmEvent | DoneEvent
Callback = Callable[[TrainEvent], None]


# ---- the trainer ----------------------------------------------------------------------


def best_path_for(out: Path) -> Path:
    """Where the best-by-validation weights live next to the latest checkpoint."""
    name = out.name
    stem = name[: -len(".safetensors")] if name.endswith(".safetensors") else name
    return out.with_name(stem + ".best.safetensors")


def default_out(corpus_name: str, level: str, cell: str, folder: Path = Path("checkpoints")) -> Path:
    """checkpoints/<corpus>-<level>-<cell>.safetensors, numbered so nothing is overwritten."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in corpus_name) or "corpus"
    base = f"{safe}-{level}-{cell}"
    candidate = folder / f"{base}.safetensors"
    n = 2
    while candidate.exists():
        candidate = folder / f"{base}-{n}.safetensors"
        n += 1
    return candidate


def check_out_path(out: Path, *, resuming_from: Path | None) -> None:
    """Refuse before training starts if ``out`` cannot be written or is someone's file."""
    if out.exists():
        if out.is_dir():
            raise RnngenError(f"{setting('out')} {out} is a folder; give a file path ending in .safetensors")
        if not is_rnngen_checkpoint(out):
            raise RnngenError(f"{setting('out')} {out} exists and is not an rnngen checkpoint; refusing to overwrite it")
        same = resuming_from is not None and out.resolve() == resuming_from.resolve()
        if not same:
            raise RnngenError(
                f"{setting('out')} {out} already holds a checkpoint; resume it with {setting('resume')} {out}, "
                f"or choose another {setting('out')}"
            )
    folder = out.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RnngenError(f"cannot create folder {folder}: {exc.strerror or exc}") from None
    probe = folder / f".rnngen-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RnngenError(f"cannot write checkpoints to {folder}: {exc.strerror or exc}") from None


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise RnngenError(f"{setting('device')} cuda was asked for but no CUDA GPU is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """bf16 autocast where it pays: CPUs with AMX or AVX512-BF16, CUDA GPUs with bf16.

    Weights, optimizer state and the loss stay float32; only matmuls and the recurrent
    kernels run in bf16 (on AMX CPUs that is 2-3x the fp32 throughput).
    """
    if precision == "fp32":
        return None
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
    else:
        cpu = getattr(torch, "cpu", None)
        supported = any(getattr(cpu, probe, lambda: False)()
                        for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))
    if precision == "bf16" and not supported:
        raise RnngenError(f"{setting('precision')} bf16 is not supported on this {device.type.upper()}")
    return torch.bfloat16 if supported else None


def encode_corpus(corpus: Corpus, level: str, cut: int, vocab_size: int | None, val_frac: float, *,
                  text: str | None = None, cacheable: bool = True) -> tuple[Tokenizer, Split, Split]:
    """Fit and encode, or reuse the cached encoding of a big corpus (memory-mapped)."""
    key = cache_key(corpus, level, vocab_size, val_frac) if cacheable else None
    cached = load_encoded(key) if key else None
    if cached is not None:
        return cached
    tokenizer, train, val = fit_and_encode(level, corpus.text if text is None else text, cut, vocab_size)
    if key:
        save_encoded(key, tokenizer, train, val)
    return tokenizer, train, val


class Trainer:
    """Builds everything from a corpus (or a checkpoint to resume) and runs the loop."""

    def __init__(
        self,
        config: TrainConfig,
        corpus: Corpus,
        *,
        out: Path | None = None,
        resume: Path | None = None,
        callback: Callback | None = None,
        explicit: set[str] | None = None,
    ):
        validate_config(config)
        self.callback = callback or (lambda event: None)
        self.notes: list[str] = []
        self.between_steps: list[Callable[["Trainer"], None]] = []
        # Per-parameter gradient norms in every StepEvent: only the dashboard asks for them.
        self.param_norms_wanted = False
        self.tokens_per_s = 0.0  # training speed, recent steps weighted most
        resumed: Checkpoint | None = load_checkpoint(resume) if resume else None
        if resumed is not None and not resumed.resumable:
            raise RnngenError(f"{resume} holds weights only (a .best file?); resume from the latest checkpoint")

        if resumed is not None:
            config = self._merge_resume_config(config, resumed.train.get("config", {}), explicit or set())
            self.tokenizer: Tokenizer = resumed.tokenizer
        text, cut, cacheable = self._texts(corpus, config)
        if not text[:cut].strip():
            raise RnngenError("the training part of the corpus is empty")
        # Big corpora: encode straight from the corpus text (no train/val copies); only
        # the compact ids are kept.
        if resumed is None:
            self.tokenizer, self.train_split, self.val_split = encode_corpus(
                corpus, config.level, cut, config.vocab_size, config.val_frac, text=text, cacheable=cacheable)
        else:
            self.train_split = encode_range(self.tokenizer, text, 0, cut)
            self.val_split = encode_range(self.tokenizer, text, cut, len(text))
        del text
        self.device = pick_device(config.device)
        self.amp_dtype = autocast_dtype(self.device, config.precision)
        if config.threads:
            torch.set_num_threads(config.threads)
        self.plan: Plan | None = None
        self.saved_plan: dict | None = resumed.train.get("plan") if resumed is not None else None
        if resumed is None:
            config = self._plan(config)
        self.config = config

        self.layout = plan_layout(self.train_split.tokens, config.batch_size, config.seq_len)
        if self.layout.seq_len < config.seq_len or self.layout.batch_size < config.batch_size:
            self.notes.append(
                f"corpus is small: using {self.layout.batch_size} stream(s) of "
                f"{self.layout.seq_len}-token windows"
            )
        self.batches = StreamBatches(self.train_split.ids, self.layout)

        self.model_config = ModelConfig(
            cell=config.cell, vocab_size=self.tokenizer.vocab_size, embed=config.embed,
            hidden=config.hidden, layers=config.layers, dropout=config.dropout, tie=config.tie,
        )
        torch.manual_seed(config.seed)
        self.model = RNNLanguageModel(self.model_config)
        if resumed is None:
            counts = token_counts(self.train_split.ids, self.tokenizer.vocab_size)
            self.model.init_output_bias(torch.from_numpy(counts))
        self.model = self.model.to(self.device)
        self.optimizer = self._make_optimizer()
        self.step = 0
        self.tokens_seen = 0
        self.elapsed_s = self.plan.seconds if self.plan else 0.0  # measuring counts inside --time
        self.history: list[dict] = []
        self.best_val: float | None = None
        self.best_step: int | None = None
        self.state: State = self.model.init_state(self.layout.batch_size, self.device)
        self.lr_scale = 1.0  # lowered by --on-nan skip
        self.resume_path = Path(resume) if resume else None
        if resumed is not None:
            self._restore(resumed)
        self.out = Path(out) if out else (self.resume_path or default_out(corpus.name, config.level, config.cell))
        check_out_path(self.out, resuming_from=self.resume_path)
        self.best_path = best_path_for(self.out)
        self.total_steps = self._total_steps()
        self.chars_per_token = self.train_split.chars / max(self.train_split.tokens, 1)

    # -- setup helpers

    @staticmethod
    def _texts(corpus: Corpus, config: TrainConfig) -> tuple[str, int, bool]:
        """The text to encode, where validation starts in it, and whether it may be cached.

        With ``val_file`` the validation text is that file, appended after the corpus (so
        one vocabulary covers both, as with a held-out tail); otherwise the corpus's
        last ``val_frac``.
        """
        if config.val_file is None:
            return corpus.text, split_point(corpus.text, config.val_frac), True
        from rnngen.corpus import load_corpus

        try:
            val = load_corpus(config.val_file)
        except RnngenError as exc:
            raise RnngenError(f"validation file: {exc.marked}") from None
        return corpus.text + val.text, len(corpus.text), False

    def _plan(self, config: TrainConfig) -> TrainConfig:
        """Choose every option left out, timing candidate shapes for a --time budget."""
        vocab = self.tokenizer.vocab_size
        # Distributed ranks must agree on the shape: they use the arithmetic estimate, not timings.
        timed = config.time_s is not None and int(os.environ.get("WORLD_SIZE", "1")) <= 1

        def speed(cell: str, shape: Shape, batch: int, seq_len: int) -> float:
            return measure_speed(cell, shape, batch, seq_len, vocab, device=self.device, amp_dtype=self.amp_dtype)

        config, self.plan = plan(config, train_tokens=self.train_split.tokens, val_tokens=self.val_split.tokens,
                                 vocab=vocab, gpu=self.device.type == "cuda", speed=speed if timed else None)
        return config

    def _make_optimizer(self) -> torch.optim.AdamW:
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            (no_decay if p.dim() < 2 or name.startswith("embedding") else decay).append(p)
        groups = [
            {"params": decay, "weight_decay": self.config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        # foreach: one kernel per op over all parameters rather than a Python loop per tensor.
        return torch.optim.AdamW(groups, lr=self.config.lr, betas=(0.9, 0.99), foreach=True)

    _merge_resume_config = staticmethod(merge_resume_config)

    def _restore(self, ckpt: Checkpoint) -> None:
        if ckpt.model_config != self.model_config:
            raise RnngenError("the checkpoint's model does not match the resumed configuration")
        self.model = ckpt.build_model().to(self.device)
        self.optimizer = self._make_optimizer()
        train = ckpt.train
        self.step = int(train.get("step", 0))
        self.tokens_seen = int(train.get("tokens_seen", 0))
        self.elapsed_s = float(train.get("elapsed_s", 0.0))
        self.history = list(train.get("history", []))
        self.best_val = train.get("best_val_loss")
        self.best_step = train.get("best_step")
        self.lr_scale = float(train.get("lr_scale", 1.0))
        if int(train.get("train_tokens", self.train_split.tokens)) != self.train_split.tokens:
            self.notes.append("the corpus differs from the one this checkpoint was trained on")
        names = dict(self.model.named_parameters())
        opt_state = self.optimizer.state
        for name, p in names.items():
            m = ckpt.tensors.get(f"{OPTIM_PREFIX}exp_avg.{name}")
            v = ckpt.tensors.get(f"{OPTIM_PREFIX}exp_avg_sq.{name}")
            if m is None or v is None:
                raise RnngenError(f"{ckpt.path}: optimizer state for {name} is missing")
            if m.shape != p.shape or v.shape != p.shape:
                raise RnngenError(f"{ckpt.path}: optimizer state for {name} has the wrong shape")
            opt_state[p] = {
                "step": torch.tensor(float(train.get("optim_step", self.step))),
                "exp_avg": m.to(self.device, torch.float32).clone(),
                "exp_avg_sq": v.to(self.device, torch.float32).clone(),
            }
        carried = []
        for i in range(2 if self.model_config.cell == "lstm" else 1):
            t = ckpt.tensors.get(f"train.state.{i}")
            expected = (self.model_config.layers, self.layout.batch_size, self.model_config.hidden)
            if t is None or tuple(t.shape) != expected:
                carried = list(self.model.init_state(self.layout.batch_size, self.device))
                break
            carried.append(t.to(self.device, torch.float32).clone())
        self.state = tuple(carried)
        rng = ckpt.tensors.get("train.rng")
        if rng is not None and rng.dtype == torch.uint8:
            try:
                torch.set_rng_state(rng.clone())
            except RuntimeError:
                self.notes.append("could not restore the random-number state; dropout will differ")

    def _total_steps(self) -> int | None:
        c = self.config
        if c.steps is not None:
            return c.steps
        if c.epochs is not None:
            return max(1, math.ceil(c.epochs * self.layout.windows_per_epoch))
        return None

    # -- schedule

    def progress(self) -> float:
        """Share of the budget used, 0..1: by steps, or by training time for --time."""
        if self.total_steps is not None:
            return min(1.0, self.step / max(self.total_steps, 1))
        return min(1.0, self.elapsed_s / self.config.time_s)

    def learning_rate(self) -> float:
        c = self.config
        warm = c.warmup_steps or 0
        if self.step < warm:
            factor = (self.step + 1) / warm
        elif c.schedule == "constant":
            factor = 1.0
        else:
            cosine = 0.5 * (1.0 + math.cos(math.pi * self.progress()))
            factor = c.min_lr_frac + (1.0 - c.min_lr_frac) * cosine
        return c.lr * factor * self.lr_scale

    def budget_done(self) -> bool:
        if self.total_steps is not None:
            return self.step >= self.total_steps
        return self.elapsed_s >= self.config.time_s

    def eval_due(self, last_eval_step: int, last_eval_time: float) -> bool:
        if self.config.eval_every:
            return self.step - last_eval_step >= self.config.eval_every
        if self.total_steps is not None:
            return self.step - last_eval_step >= max(1, self.total_steps // 10)
        return self.elapsed_s - last_eval_time >= self.config.time_s / 10

    # -- one step

    def train_module(self) -> torch.nn.Module:
        """The module that runs forward and backward: the model, or its DistributedDataParallel wrapper."""
        return self.model

    def train_step(self) -> StepEvent | AlarmEvent:
        """One window forward and back; the update is applied only if everything is finite."""
        model, opt = self.train_module(), self.optimizer
        window = self.step % self.layout.windows_per_epoch
        if window == 0:
            self.state = self.model.init_state(self.layout.batch_size, self.device)
        x, y = self.batches.window(self.step)
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        lr = self.learning_rate()
        for group in opt.param_groups:
            group["lr"] = lr
        model.train()
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
            logits, new_state = model(x, self.state)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for p in model.parameters() if p.grad is not None]
        norms = torch._foreach_norm([p.grad for p in params])
        total = torch.linalg.vector_norm(torch.stack(norms)).item()
        loss_value = loss.item()
        if not (math.isfinite(loss_value) and math.isfinite(total)):
            return self._alarm(loss_value, params, norms)
        clipped = bool(self.config.clip) and total > self.config.clip
        if clipped:
            torch._foreach_mul_([p.grad for p in params], self.config.clip / (total + 1e-6))
        opt.step()
        self.state = detach_state(new_state)
        self.step += 1
        self.tokens_seen += y.numel()
        return StepEvent(
            step=self.step, loss=loss_value,
            bpc=loss_value / math.log(2) / self.chars_per_token,
            grad_norm=total, clipped=clipped, lr=lr, tokens_per_s=0.0,
            elapsed_s=self.elapsed_s, progress=0.0, eta_s=None,
            param_grad_norms=self._param_norms(params, norms) if self.param_norms_wanted else None,
        )

    def _param_norms(self, params: list[torch.nn.Parameter], norms: list[torch.Tensor]) -> dict[str, float]:
        ids = {id(p): n for n, p in self.model.named_parameters()}
        values = torch.stack(norms).tolist()
        return {ids[id(p)]: v for p, v in zip(params, values)}

    def _alarm(self, loss_value: float, params, norms) -> AlarmEvent:
        if math.isfinite(loss_value):
            ids = {id(p): n for n, p in self.model.named_parameters()}
            bad = next((ids[id(p)] for p, n in zip(params, norms) if not torch.isfinite(n)), "loss")
            what = "loss" if bad == "loss" else f"gradient of {bad}"
            message = f"step {self.step + 1}: the {what} is NaN or infinite; the update was not applied"
        else:
            # The weights are finite (no bad update is ever applied), so the forward pass
            # overflowed: name the parameter with the largest weights, the likely culprit.
            with torch.no_grad():
                sizes = {name: float(p.detach().abs().max()) for name, p in self.model.named_parameters()}
            bad = max(sizes, key=sizes.get)
            message = (f"step {self.step + 1}: the loss is NaN or infinite; the update was not applied "
                       f"(largest weights: {bad}, |w| up to {sizes[bad]:.3g})")
        self.optimizer.zero_grad(set_to_none=True)
        return AlarmEvent(step=self.step + 1, message=message, parameter=bad)

    # -- evaluation and checkpoints

    def evaluate_val(self) -> EvalResult | None:
        if self.val_split.tokens < 2:
            return None
        if self.config.eval_tokens is None:
            # Chosen once, at the first evaluation, from the training speed seen so far; kept
            # for the rest of the run (and its resumes) so every evaluation reads the same text.
            if self.config.time_s is not None:
                run_seconds = self.config.time_s
            else:
                run_seconds = (self.total_steps or self.step) * self.layout.batch_size * self.layout.seq_len \
                    / max(self.tokens_per_s, 1e-9)
            self.config = replace(self.config, eval_tokens=eval_tokens_for(
                self.tokens_per_s, self.val_split.tokens, run_seconds))
        ids, chars = self.val_split.ids, self.val_split.chars
        if ids.size > self.config.eval_tokens:
            # Big corpora: a fixed prefix of the validation text keeps evaluations cheap and comparable.
            chars = round(chars * self.config.eval_tokens / ids.size)
            ids = ids[: self.config.eval_tokens]
        return evaluate(
            self.model, ids, chars,
            batch_size=32, seq_len=max(self.layout.seq_len, 128),
            device=self.device, amp_dtype=self.amp_dtype,
        )

    def checkpoint(self, *, with_optimizer: bool = True) -> Checkpoint:
        tensors: dict[str, torch.Tensor] = dict(self.model.state_dict())
        if with_optimizer:
            for name, p in self.model.named_parameters():
                st = self.optimizer.state.get(p)
                if st:
                    tensors[f"{OPTIM_PREFIX}exp_avg.{name}"] = st["exp_avg"]
                    tensors[f"{OPTIM_PREFIX}exp_avg_sq.{name}"] = st["exp_avg_sq"]
            for i, s in enumerate(self.state):
                tensors[f"train.state.{i}"] = s
            tensors["train.rng"] = torch.get_rng_state()
        optim_step = None
        for st in self.optimizer.state.values():
            optim_step = float(st["step"])
            break
        train = {
            "step": self.step,
            "optim_step": optim_step if optim_step is not None else self.step,
            "tokens_seen": self.tokens_seen,
            "elapsed_s": round(self.elapsed_s, 3),
            "train_tokens": self.train_split.tokens,
            "val_tokens": self.val_split.tokens,
            "best_val_loss": self.best_val,
            "best_step": self.best_step,
            "lr_scale": self.lr_scale,
            "history": self.history,
            "config": self.config.to_json(),
            "plan": self.plan.to_json() if self.plan else self.saved_plan,
            "torch": torch.__version__,
        }
        return Checkpoint(self.model_config, self.tokenizer, train, tensors)

    def save(self, *, best: bool = False) -> None:
        save_checkpoint(self.out, self.checkpoint())
        if best:
            save_checkpoint(self.best_path, self.checkpoint(with_optimizer=False))
        self.callback(SavedEvent(self.step, self.out, self.best_path if best else None))

    def run_eval_and_save(self, train_loss: float) -> EvalResult | None:
        val = self.evaluate_val()
        improved = val is not None and (self.best_val is None or val.loss < self.best_val)
        if improved:
            self.best_val, self.best_step = val.loss, self.step
        self.history.append({
            "step": self.step, "elapsed_s": round(self.elapsed_s, 2),
            "train_loss": round(train_loss, 5) if math.isfinite(train_loss) else None,
            "val_loss": round(val.loss, 5) if val else None,
            "val_bpc": round(val.bpc, 5) if val else None,
        })
        self.callback(EvalEvent(self.step, train_loss, val, improved))
        # Without validation text the latest weights are the best we know.
        self.save(best=improved or val is None)
        return val

    # -- the loop

    def run(self, stop: threading.Event | None = None) -> DoneEvent:
        stop = stop or threading.Event()
        self.callback(StartEvent(
            config=self.config, model_config=self.model_config,
            parameters=self.model.num_parameters(), train_tokens=self.train_split.tokens,
            val_tokens=self.val_split.tokens, vocab_size=self.tokenizer.vocab_size,
            start_step=self.step, total_steps=self.total_steps, time_budget_s=self.config.time_s,
            out=self.out, notes=list(self.notes), plan=self.plan.summary if self.plan else None,
        ))
        reason = "budget"
        last_eval_step, last_eval_time = self.step, self.elapsed_s
        recent_loss = float("nan")
        rate_tokens, rate_time = 0, 0.0
        val: EvalResult | None = None
        while not self.budget_done():
            if stop.is_set():
                reason = "stopped"
                break
            t0 = time.perf_counter()
            event = self.train_step()
            if isinstance(event, AlarmEvent):
                self.callback(event)
                if self.config.on_nan == "skip":
                    self.lr_scale *= 0.5
                    self.step += 1  # move past the bad window
                    self.elapsed_s += time.perf_counter() - t0
                    continue
                reason = "diverged"
                break
            dt = time.perf_counter() - t0
            # Exponentially weighted tokens/s: steady, yet follows changes within ~10 steps.
            rate_tokens = rate_tokens * 0.9 + self.layout.batch_size * self.layout.seq_len
            rate_time = rate_time * 0.9 + dt
            recent_loss = event.loss if math.isnan(recent_loss) else 0.9 * recent_loss + 0.1 * event.loss
            event.tokens_per_s = self.tokens_per_s = rate_tokens / max(rate_time, 1e-9)
            event.elapsed_s = self.elapsed_s + dt
            event.progress = self.progress()
            event.eta_s = self._eta(rate_time / max(rate_tokens, 1) * self.layout.batch_size * self.layout.seq_len)
            self.callback(event)
            # The budget is wall-clock time: the step, reporting it, evaluating and saving.
            # Only the hooks (the dashboard's probes and pauses) are left out.
            self.elapsed_s += time.perf_counter() - t0
            for hook in self.between_steps:
                hook(self)
            if self.eval_due(last_eval_step, last_eval_time) and not self.budget_done():
                t_eval = time.perf_counter()
                val = self.run_eval_and_save(recent_loss)
                self.elapsed_s += time.perf_counter() - t_eval
                last_eval_step, last_eval_time = self.step, self.elapsed_s
        if reason == "budget":
            val = self.run_eval_and_save(recent_loss)
        else:
            # Stopped or diverged: keep what we have (weights are still the last good ones).
            self.save(best=self.best_val is None and self.val_split.tokens < 2)
        done = DoneEvent(self.step, reason, self.out, self.best_path if self.best_path.exists() else None, val)
        self.callback(done)
        return done

    def _eta(self, last_step_s: float) -> float | None:
        if self.total_steps is not None:
            return max(0, self.total_steps - self.step) * last_step_s
        return max(0.0, self.config.time_s - self.elapsed_s)
