"""The training loop: truncated BPTT, AdamW with warm-up and cosine decay, clipping,
evaluation, checkpoints and faithful resume.

The loop knows nothing about terminals: it reports what happens through a callback
(``TrainEvent`` objects, events.py) and stops when a ``threading.Event`` is set, so the
CLI's progress bar and the TUI dashboard drive the very same code. The schedule and
budget rules are in schedule.py, the set-up (paths, device, precision, encoding) in
setup.py, the resume tensors in rnngen/resume_state.py.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

from rnngen.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from rnngen.checkpoint_lock import CheckpointLock, lock_checkpoint
from rnngen.config import TrainConfig, chosen, merge_resume_config, validate_config
from rnngen.corpus import Corpus
from rnngen.data import StreamBatches, encode_range, plan_layout, token_counts
from rnngen.errors import RnngenError, setting
from rnngen.evaluation import EvalResult, evaluate
from rnngen.fine_tune import config_from_parent, grow_tokenizer, load_parent, parent_record, transfer_weights
from rnngen.history_diagnosis import unigram_loss
from rnngen.model import ModelConfig, RNNLanguageModel, State, detach_state
from rnngen.novelty import corpus_record
from rnngen.planner import Plan, Shape, dropout_recheck, eval_tokens_for, measure_speed, plan
from rnngen.resume_state import (
    check_resumed_shape,
    optimizer_step_count,
    read_progress,
    restore_hidden_state,
    restore_optimizer,
    restore_rng,
    resume_tensors,
)
from rnngen.tokenizers import Tokenizer
from rnngen.training import schedule
from rnngen.training.diagnostics import nan_alarm, param_norms
from rnngen.training.events import (
    AlarmEvent,
    Callback,
    DoneEvent,
    EvalEvent,
    ReplanEvent,
    SavedEvent,
    StartEvent,
    StepEvent,
)
from rnngen.training.setup import (
    autocast_dtype,
    best_path_for,
    check_out_path,
    claim_default_out,
    default_out,
    encode_corpus,
    pick_device,
    training_texts,
)


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
        init_from: Path | None = None,
    ):
        validate_config(config)
        self.resume_path = Path(resume) if resume else None
        if init_from is not None and resume is not None:
            raise RnngenError(f"give {setting('init_from')} or {setting('resume')}, not both")
        self.init_from = Path(init_from) if init_from is not None else None
        # The checkpoint path is claimed first, before anything slow (loading, encoding): a
        # second run on the same path is refused at once, and holds nothing it could lose.
        self.out, self.checkpoint_lock = self._claim_out(out, corpus, config)
        try:
            self._build(config, corpus, callback, explicit)
        except BaseException:
            self.checkpoint_lock.release()  # now, not when the half-built trainer is collected
            raise

    def _build(self, config: TrainConfig, corpus: Corpus, callback: Callback | None, explicit: set[str] | None) -> None:
        resume = self.resume_path
        self.callback = callback or (lambda event: None)
        self.notes: list[str] = []
        self.between_steps: list[Callable[[Trainer], None]] = []
        # Per-parameter gradient norms in every StepEvent: only the dashboard asks for them.
        self.param_norms_wanted = False
        self.tokens_per_s = 0.0  # training speed, recent steps weighted most
        self.processes = 1  # processes training together (a DistributedTrainer's world size)
        self._rate_tokens, self._rate_time = 0.0, 0.0  # exponentially weighted, for tokens_per_s
        resumed: Checkpoint | None = load_checkpoint(resume) if resume else None
        if resumed is not None and not resumed.resumable:
            if resumed.path is not None and resumed.path.is_dir():  # an exported model folder
                raise RnngenError(
                    f"{resume} is an exported model folder (weights only, no optimizer state): it cannot be "
                    f"resumed; start a new run from it with {setting('init_from')}"
                )
            raise RnngenError(f"{resume} holds weights only (a .best file?); resume from the latest checkpoint")

        if resumed is not None:
            config = self._merge_resume_config(config, resumed.train.get("config", {}), explicit or set())
            check_resumed_shape(config, resumed)
            self.tokenizer: Tokenizer = resumed.tokenizer
        # --init-from: the parent's weights and shape, a fresh optimizer and clock (rnngen/fine_tune.py).
        parent = load_parent(self.init_from) if self.init_from is not None else None
        if parent is not None:
            config = config_from_parent(config, explicit or set(), parent)
        self.parent: object = resumed.train.get("parent") if resumed is not None else None
        # Where the corpus is and its checksum: the TUI's copy check reads it again (novelty.py).
        self.corpus_record = corpus_record(corpus.text, corpus.sources) if corpus.sources else None
        text, cut, cacheable = training_texts(corpus, config)
        if not text[:cut].strip():
            raise RnngenError("the training part of the corpus is empty")
        # Big corpora: encode straight from the corpus text (no train/val copies); only
        # the compact ids are kept.
        if parent is not None:
            self.tokenizer, new_tokens = grow_tokenizer(parent.tokenizer, text, config.vocab_size)
            if new_tokens:
                shown = "".join(new_tokens[:20]) if config.level == "char" else " ".join(new_tokens[:10])
                self.notes.append(f"{len(new_tokens)} token(s) new to the vocabulary: {shown!r}")
            self.train_split = encode_range(self.tokenizer, text, 0, cut)
            self.val_split = encode_range(self.tokenizer, text, cut, len(text))
        elif resumed is None:
            self.tokenizer, self.train_split, self.val_split = encode_corpus(
                corpus,
                config.level,
                cut,
                config.vocab_size,
                config.val_frac,
                text=text,
                cacheable=cacheable,
                note=self.notes.append,
            )
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

        batch_size, seq_len = chosen(config.batch_size, "batch_size"), chosen(config.seq_len, "seq_len")
        self.layout = plan_layout(self.train_split.tokens, batch_size, seq_len)
        if self.layout.seq_len < seq_len or self.layout.batch_size < batch_size:
            self.notes.append(
                f"corpus is small: using {self.layout.batch_size} stream(s) of {self.layout.seq_len}-token windows"
            )
        self.batches = StreamBatches(self.train_split.ids, self.layout)

        self.model_config = ModelConfig(
            cell=config.cell,
            vocab_size=self.tokenizer.vocab_size,
            embed=chosen(config.embed, "embed"),
            hidden=chosen(config.hidden, "hidden"),
            layers=chosen(config.layers, "layers"),
            dropout=chosen(config.dropout, "dropout"),
            tie=chosen(config.tie, "tie"),
        )
        torch.manual_seed(config.seed)
        self.model = RNNLanguageModel(self.model_config)
        # The loss of a model that knows only token frequencies: `rnngen info` compares with it.
        self.unigram_loss: float | None = resumed.train.get("unigram_loss") if resumed is not None else None
        if resumed is None:
            counts = token_counts(self.train_split.ids, self.tokenizer.vocab_size)
            if config.optimizer == "sgd":
                self.model.init_for_sgd()
            else:
                self.model.init_output_bias(torch.from_numpy(counts))
            self.unigram_loss = unigram_loss(counts)
        if parent is not None:
            assert self.init_from is not None
            transfer_weights(parent, self.model)  # new rows keep the bias set just above
            self.parent = parent_record(self.init_from, parent)
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
        if resumed is not None:
            self._restore(resumed)
            # Checked once the checkpoint is known to be whole: a broken one is reported as such.
            check_out_path(self.out, resuming_from=resume)
        self.best_path = best_path_for(self.out)
        self.total_steps = self._total_steps()
        self.chars_per_token = self.train_split.chars / max(self.train_split.tokens, 1)

    # -- setup helpers

    def writes_checkpoints(self) -> bool:
        """Whether this process saves the checkpoints (and so holds their lock)."""
        return True

    def _claim_out(self, out: Path | None, corpus: Corpus, config: TrainConfig) -> tuple[Path, CheckpointLock]:
        """The checkpoint path, locked for this run (see rnngen/checkpoint_lock.py)."""
        resume = self.resume_path
        if out is None and resume is not None and not resume.exists():
            load_checkpoint(resume)  # its usual "does not exist" error, before any folder is made
        target = Path(out) if out else resume
        if not self.writes_checkpoints():  # another process of the job holds the lock
            path = target or default_out(corpus.name, config.level, config.cell)
            lock = CheckpointLock(path, None)
        elif target is None:
            path, lock = claim_default_out(corpus.name, config.level, config.cell)
        else:
            path, lock = target, lock_checkpoint(target)
        if resume is None:  # a fresh run: refuse a taken path before encoding anything
            try:
                check_out_path(path, resuming_from=None)
            except BaseException:
                lock.release()
                raise
        return path, lock

    def _plan(self, config: TrainConfig) -> TrainConfig:
        """Choose every option left out, timing candidate shapes for a --time budget."""
        vocab = self.tokenizer.vocab_size
        # Distributed ranks must agree on the shape: they use the arithmetic estimate, not timings.
        timed = config.time_s is not None and int(os.environ.get("WORLD_SIZE", "1")) <= 1

        def speed(cell: str, shape: Shape, batch: int, seq_len: int) -> float:
            return measure_speed(cell, shape, batch, seq_len, vocab, device=self.device, amp_dtype=self.amp_dtype)

        config, self.plan = plan(
            config,
            train_tokens=self.train_split.tokens,
            val_tokens=self.val_split.tokens,
            vocab=vocab,
            gpu=self.device.type in ("cuda", "mps"),
            speed=speed if timed else None,
        )
        return config

    def _make_optimizer(self) -> torch.optim.Optimizer:
        lr = chosen(self.config.lr, "lr")
        if self.config.optimizer == "sgd":
            # Plain SGD (word_language_model's): no momentum and no weight decay, which at a
            # rate of 20 would shrink every weight by a fifth per step.
            return torch.optim.SGD(self.model.parameters(), lr=lr, foreach=True)
        decay: list[torch.nn.Parameter] = []
        no_decay: list[torch.nn.Parameter] = []
        for name, p in self.model.named_parameters():
            (no_decay if p.dim() < 2 or name.startswith("embedding") else decay).append(p)
        groups = [
            {"params": decay, "weight_decay": self.config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        # foreach: one kernel per op over all parameters rather than a Python loop per tensor.
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99), foreach=True)

    _merge_resume_config = staticmethod(merge_resume_config)

    def _restore(self, ckpt: Checkpoint) -> None:
        # Dropout may change on resume (it shapes no weight); everything else must match.
        if replace(ckpt.model_config, dropout=self.model_config.dropout) != self.model_config:
            raise RnngenError("the checkpoint's model does not match the resumed configuration")
        self.model = replace(ckpt, model_config=self.model_config).build_model().to(self.device)
        self.optimizer = self._make_optimizer()
        progress = read_progress(ckpt)  # every field checked: the metadata may be a stranger's
        self.step = progress.step
        self.tokens_seen = progress.tokens_seen
        self.elapsed_s = progress.elapsed_s
        self.history = progress.history
        self.best_val = progress.best_val_loss
        self.best_step = progress.best_step
        self.lr_scale = progress.lr_scale
        if progress.train_tokens not in (None, self.train_split.tokens):
            self.notes.append("the corpus differs from the one this checkpoint was trained on")
        restore_optimizer(ckpt, self.model, self.optimizer, self.device, progress.optim_step)
        shape = (self.model_config.layers, self.layout.batch_size, self.model_config.hidden)
        carried = restore_hidden_state(ckpt, 2 if self.model_config.cell == "lstm" else 1, shape, self.device)
        self.state = carried if carried is not None else self.model.init_state(self.layout.batch_size, self.device)
        if not restore_rng(ckpt):
            self.notes.append("could not restore the random-number state; dropout will differ")

    def _total_steps(self) -> int | None:
        return schedule.total_steps(self.config, self.layout.windows_per_epoch)

    # -- schedule (the rules live in schedule.py; a DistributedTrainer reads the agreed clock)

    def progress(self) -> float:
        """Share of the budget used, 0..1: by steps, or by training time for --time."""
        return schedule.progress(self.step, self.total_steps, self.elapsed_s, self.config.time_s)

    def learning_rate(self) -> float:
        return schedule.learning_rate(self.config, self.step, self.progress(), self.lr_scale)

    def budget_done(self) -> bool:
        return schedule.budget_done(self.step, self.total_steps, self.elapsed_s, self.config.time_s)

    def eval_due(self, last_eval_step: int, last_eval_time: float) -> bool:
        return schedule.eval_due(
            self.config, self.step, self.total_steps, self.elapsed_s, last_eval_step, last_eval_time
        )

    # -- one step

    def train_module(self) -> torch.nn.Module:
        """The module that runs forward and backward: the model, or its DistributedDataParallel wrapper."""
        return self.model

    def agree(self, loss_value: float) -> float:
        """The step's loss as the whole job saw it (one process: its own)."""
        return loss_value

    def train_step(self) -> StepEvent | AlarmEvent:
        """One window forward and back; the update is applied only if everything is finite."""
        t0 = time.perf_counter()
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
        with torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        ):
            logits, new_state = model(x, self.state)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for p in model.parameters() if p.grad is not None]
        grads = [p.grad for p in params if p.grad is not None]
        norms = list(torch._foreach_norm(grads))
        total = torch.linalg.vector_norm(torch.stack(norms)).item()
        loss_value = loss.item()
        finite = math.isfinite(loss_value) and math.isfinite(total)
        # NaN when not finite: in a distributed job every rank then sees a NaN mean and stops on this step.
        mean_loss = self.agree(loss_value if finite else math.nan)
        finite = math.isfinite(mean_loss)
        if not finite:
            return self._alarm(loss_value, params, norms)
        clip = self.config.clip or 0.0
        clipped = bool(clip) and total > clip
        if clipped:
            torch._foreach_mul_(grads, clip / (total + 1e-6))
        opt.step()
        self.state = detach_state(new_state)
        self.step += 1
        self.tokens_seen += y.numel() * self.processes
        dt = time.perf_counter() - t0
        # Exponentially weighted tokens/s: steady, yet follows changes within ~10 steps.
        tokens = self.layout.batch_size * self.layout.seq_len
        self._rate_tokens = self._rate_tokens * 0.9 + tokens
        self._rate_time = self._rate_time * 0.9 + dt
        self.tokens_per_s = self._rate_tokens / max(self._rate_time, 1e-9)
        step_s = self._rate_time / max(self._rate_tokens, 1) * tokens
        return StepEvent(
            step=self.step,
            loss=mean_loss,
            bpc=mean_loss / math.log(2) / self.chars_per_token,
            grad_norm=total,
            clipped=clipped,
            lr=lr,
            tokens_per_s=self.tokens_per_s * self.processes,
            elapsed_s=self.elapsed_s + dt,
            progress=self.progress(),
            eta_s=schedule.eta(self.step, self.total_steps, self.elapsed_s, self.config.time_s, step_s),
            param_grad_norms=param_norms(self.model, params, norms) if self.param_norms_wanted else None,
        )

    def _alarm(self, loss_value: float, params, norms) -> AlarmEvent:
        self.optimizer.zero_grad(set_to_none=True)
        return nan_alarm(self.model, self.step + 1, loss_value, params, norms)

    def recheck_dropout(self) -> ReplanEvent | None:
        """At the first evaluation of a planned --time run: the dropout the planner chose for the
        passes its probe predicted, re-chosen for the passes the run's own speed predicts."""
        if self.plan is None or self.config.time_s is None or self.processes != 1 or len(self.history) != 1:
            return None
        record = dropout_recheck(
            self.config,
            self.plan,
            step=self.step,
            tokens_seen=self.tokens_seen,
            tokens_per_s=self.tokens_per_s,
            seconds_left=self.config.time_s - self.elapsed_s,
            train_tokens=self.train_split.tokens,
        )
        if record is None:
            return None
        self.model.set_dropout(record["dropout"])
        self.model_config = self.model.config
        self.config = replace(self.config, dropout=record["dropout"])
        self.plan.replanned = record
        return ReplanEvent(self.step, record["message"])

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
                run_seconds = (
                    (self.total_steps or self.step)
                    * self.layout.batch_size
                    * self.layout.seq_len
                    / max(self.tokens_per_s, 1e-9)
                )
            self.config = replace(
                self.config, eval_tokens=eval_tokens_for(self.tokens_per_s, self.val_split.tokens, run_seconds)
            )
        ids, chars = self.val_split.ids, self.val_split.chars
        eval_tokens = chosen(self.config.eval_tokens, "eval_tokens")
        if ids.size > eval_tokens:
            # Big corpora: a fixed prefix of the validation text keeps evaluations cheap and comparable.
            chars = round(chars * eval_tokens / ids.size)
            ids = ids[:eval_tokens]
        return evaluate(
            self.model,
            ids,
            chars,
            batch_size=32,
            seq_len=max(self.layout.seq_len, 128),
            device=self.device,
            amp_dtype=self.amp_dtype,
        )

    def checkpoint(self, *, with_optimizer: bool = True) -> Checkpoint:
        tensors: dict[str, torch.Tensor] = dict(self.model.state_dict())
        if with_optimizer:
            tensors.update(resume_tensors(self.model, self.optimizer, self.state))
        optim_step = optimizer_step_count(self.optimizer)
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
            "unigram_loss": self.unigram_loss,
            "parent": self.parent,
            "corpus": self.corpus_record,
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
        if val is not None and improved:
            self.best_val, self.best_step = val.loss, self.step
        self.history.append(
            {
                "step": self.step,
                "elapsed_s": round(self.elapsed_s, 2),
                "train_loss": round(train_loss, 5) if math.isfinite(train_loss) else None,
                "val_loss": round(val.loss, 5) if val else None,
                "val_bpc": round(val.bpc, 5) if val else None,
            }
        )
        self.callback(EvalEvent(self.step, train_loss, val, improved))
        # Without validation text the latest weights are the best we know.
        self.save(best=improved or val is None)
        return val

    # -- the loop

    def run(self, stop: threading.Event | None = None) -> DoneEvent:
        """Train until the budget is spent or ``stop`` is set; the checkpoint's lock is given up after."""
        try:
            return self._loop(stop)
        finally:
            self.checkpoint_lock.release()

    def _loop(self, stop: threading.Event | None) -> DoneEvent:
        stop = stop or threading.Event()
        self.callback(
            StartEvent(
                config=self.config,
                model_config=self.model_config,
                parameters=self.model.num_parameters(),
                train_tokens=self.train_split.tokens,
                val_tokens=self.val_split.tokens,
                vocab_size=self.tokenizer.vocab_size,
                start_step=self.step,
                total_steps=self.total_steps,
                time_budget_s=self.config.time_s,
                out=self.out,
                notes=list(self.notes),
                plan=self.plan.summary if self.plan else None,
                plan_details=self.plan.to_json() if self.plan else None,
            )
        )
        reason = "budget"
        last_eval_step, last_eval_time = self.step, self.elapsed_s
        recent_loss = float("nan")
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
            recent_loss = event.loss if math.isnan(recent_loss) else 0.9 * recent_loss + 0.1 * event.loss
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
                replanned = self.recheck_dropout()
                if replanned is not None:
                    self.callback(replanned)
                if self.processes == 1 and schedule.patience_spent(self.config.patience, self.history, self.best_step):
                    reason = "patience"  # that evaluation was just saved; the best file holds the best
                    break
        if reason == "budget":
            val = self.run_eval_and_save(recent_loss)
        elif reason != "patience":
            # Stopped or diverged: keep what we have (weights are still the last good ones).
            self.save(best=self.best_val is None and self.val_split.tokens < 2)
        done = DoneEvent(self.step, reason, self.out, self.best_path if self.best_path.exists() else None, val)
        self.callback(done)
        return done
