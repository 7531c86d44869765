"""Data-parallel training on torch.distributed: one process per CPU group or GPU.

``rnngen train --nproc N`` starts N copies of the CLI on this machine (rnngen/local_ranks.py);
``torchrun ... -m rnngen train`` does the same across machines. Each copy sees
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` in its environment, joins the process group
(gloo on CPU, NCCL on CUDA) and trains a :class:`DistributedTrainer`:

- The training text is laid out as ``--batch-size`` streams exactly as in one process;
  rank r trains on streams ``[r*B/N, (r+1)*B/N)`` (disjoint), carrying its own hidden
  state. DistributedDataParallel averages the gradients, so N processes compute the
  same update as one process with the whole batch (up to float rounding): the run is
  the same run, only faster. ``--batch-size`` must therefore be a multiple of N.
- Ranks agree every step on the mean loss (NaN if any rank saw NaN/Inf, so all of them
  stop or skip on the same step), the training time (rank 0's clock) and whether anyone
  was asked to stop, so budgets, the learning-rate schedule, evaluations and Ctrl-C are
  decided identically everywhere and no rank waits forever.
- Rank 0 alone reports events, evaluates, and writes checkpoints. Before a save the
  ranks gather their hidden states, so the checkpoint holds the whole batch's state
  and looks like a one-process checkpoint: resume with the same N (or any N that
  divides the batch, or one process) continues exactly where it stopped.
- A rank whose peer died (a collective fails) leaves at once: started by ``--nproc``,
  silently with exit code LOST_CONTACT (the launcher names the rank that died); under
  torchrun, with one error line.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import shutil
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from rnngen.data import StreamBatches, StreamLayout
from rnngen.errors import RnngenError, setting
from rnngen.local_ranks import INIT_METHOD_ENV, LAUNCHER_ENV, LOST_CONTACT, RANKS_FOLDER_PREFIX
from rnngen.training import schedule
from rnngen.training.events import AlarmEvent
from rnngen.training.setup import pick_device
from rnngen.training.trainer import Trainer


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in a torchrun job."""

    rank: int
    world_size: int
    local_rank: int


def env() -> DistEnv | None:
    """The torchrun environment of this process, or None when it runs alone."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return None
    if world <= 1:
        return None
    try:
        return DistEnv(
            rank=int(os.environ["RANK"]), world_size=world, local_rank=int(os.environ.get("LOCAL_RANK", "0"))
        )
    except (KeyError, ValueError):
        raise RnngenError(
            "WORLD_SIZE is set but RANK is not: start distributed runs with --nproc or torchrun"
        ) from None


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    e = env()
    return e.rank if e else 0


@contextlib.contextmanager
def process_group(e: DistEnv, device_name: str):
    """Join the process group for the run (gloo on CPU, NCCL on CUDA) and leave it after.

    Ranks started by ``--nproc`` meet through the file the launcher names (a FileStore in
    its private folder); otherwise torch's ``env://`` (torchrun's MASTER_ADDR/PORT).
    """
    import torch.distributed as dist

    _follow_the_launcher()
    device = pick_device(device_name)
    if device.type == "cuda":
        if e.local_rank >= torch.cuda.device_count():
            raise RnngenError(f"local rank {e.local_rank} has no GPU: this machine has {torch.cuda.device_count()}")
        torch.cuda.set_device(e.local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    owned = not dist.is_initialized()
    if owned:
        init_method = os.environ.get(INIT_METHOD_ENV)
        try:
            if init_method:
                dist.init_process_group(backend=backend, init_method=init_method, rank=e.rank, world_size=e.world_size)
            else:
                dist.init_process_group(backend=backend)
        except (RuntimeError, ValueError) as exc:
            raise RnngenError(f"could not join the process group ({backend}): {str(exc).splitlines()[0]}") from None
    try:
        yield
    except RuntimeError as exc:
        if not lost_contact(exc):
            raise
        if os.environ.get(LAUNCHER_ENV):
            # The launcher saw which rank went away and says so; tearing down a process
            # group with a dead peer can abort in C++, so leave now (outputs are flushed).
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(LOST_CONTACT)
        raise RnngenError(
            f"lost contact with another process of the job (it stopped or died): {str(exc).splitlines()[0]}"
        ) from None
    finally:
        if owned and dist.is_initialized():
            dist.destroy_process_group()
        _tidy_for_a_lost_launcher(e)


def lost_contact(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective failing because another rank went away."""
    import torch.distributed as dist

    text = str(exc).lower()
    return isinstance(exc, dist.DistError) or any(word in text for word in ("gloo", "nccl", "connection", "peer"))


def _tidy_for_a_lost_launcher(e: DistEnv) -> None:
    """The launcher removes its private folder when the job ends; if it was killed, rank 0 does."""
    launcher, init = os.environ.get(LAUNCHER_ENV), os.environ.get(INIT_METHOD_ENV, "")
    if e.rank != 0 or not launcher or str(os.getppid()) == launcher or not init.startswith("file://"):
        return
    folder = Path(init.removeprefix("file://")).parent
    if folder.name.startswith(RANKS_FOLDER_PREFIX):
        shutil.rmtree(folder, ignore_errors=True)


def _follow_the_launcher() -> None:
    """A rank started by ``--nproc`` stops (saving, as on SIGTERM) if its launcher dies."""
    launcher = os.environ.get(LAUNCHER_ENV)
    if not launcher or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG: SIGTERM when the parent dies
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != launcher:  # it died before we asked
        os.kill(os.getpid(), signal.SIGTERM)


class DistributedTrainer(Trainer):
    """The Trainer, data-parallel over the ranks of a process group."""

    def __init__(self, dist_env: DistEnv, *args, **kwargs):
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        self.dist_env = dist_env
        super().__init__(*args, **kwargs)
        world, r = dist_env.world_size, dist_env.rank
        layout = self.layout
        if layout.batch_size % world:
            raise RnngenError(
                f"the batch of {layout.batch_size} streams does not split evenly over {world} processes: "
                f"give {setting('batch_size')} a multiple of {world}"
            )
        local = layout.batch_size // world
        self.global_layout = layout
        self.layout = StreamLayout(batch_size=local, seq_len=layout.seq_len, stream_len=layout.stream_len)
        self.rows = slice(r * local, (r + 1) * local)
        # Streams are consecutive stretches of the text: this rank's rows are one slice of it.
        span = local * layout.stream_len
        self.batches = StreamBatches(self.train_split.ids[r * span : (r + 1) * span], self.layout)
        # The (restored or fresh) state is the whole batch's: keep this rank's rows.
        self.state = tuple(s[:, self.rows].contiguous() for s in self.state)
        device_ids = (
            [self.device.index if self.device.index is not None else torch.cuda.current_device()]
            if self.device.type == "cuda"
            else None
        )
        self.ddp = DistributedDataParallel(self.model, device_ids=device_ids)
        self._synced_elapsed = self.elapsed_s
        self._last_eval_synced = self.elapsed_s
        self._requested = threading.Event()
        self._agreed = threading.Event()
        self._full_state: tuple[torch.Tensor, ...] | None = None
        self._dist = dist
        self.processes = world  # events report the whole job's tokens, not one rank's

    def writes_checkpoints(self) -> bool:
        return self.dist_env.rank == 0  # so only rank 0 holds (or borrows) the checkpoint's lock

    # -- the step, and agreeing on what happens next

    def train_module(self) -> torch.nn.Module:
        return self.ddp

    def agree(self, loss_value: float) -> float:
        """One all-reduce per step: the mean loss, rank 0's clock, and whether anyone was asked to stop.

        A rank that saw NaN/Inf passes NaN, so the mean is NaN on every rank and all of
        them stop (or skip) on this step together.
        """
        flags = torch.tensor(
            [loss_value, self.elapsed_s if self.dist_env.rank == 0 else 0.0, float(self._requested.is_set())],
            dtype=torch.float64,
            device=self.device,
        )
        self._dist.all_reduce(flags)
        total_loss, elapsed, stop = flags.tolist()
        self._synced_elapsed = elapsed
        if stop > 0:
            self._agreed.set()
        return total_loss / self.dist_env.world_size

    def _alarm(self, loss_value: float, params, norms) -> AlarmEvent:
        if math.isfinite(loss_value) and all(math.isfinite(float(n)) for n in norms):
            self.optimizer.zero_grad(set_to_none=True)
            step = self.step + 1
            message = f"step {step}: the loss is NaN or infinite on another process; the update was not applied"
            return AlarmEvent(step=step, message=message, parameter="loss")
        return super()._alarm(loss_value, params, norms)

    # The schedule's rules on the clock every rank agreed on (rank 0's).

    def budget_done(self) -> bool:
        return schedule.budget_done(self.step, self.total_steps, self._synced_elapsed, self.config.time_s)

    def progress(self) -> float:
        return schedule.progress(self.step, self.total_steps, self._synced_elapsed, self.config.time_s)

    def eval_due(self, last_eval_step: int, last_eval_time: float) -> bool:
        return schedule.eval_due(
            self.config, self.step, self.total_steps, self._synced_elapsed, last_eval_step, self._last_eval_synced
        )

    # -- evaluation and checkpoints: gathered everywhere, done on rank 0

    def _gather_state(self) -> None:
        full = []
        for s in self.state:
            parts = [torch.empty_like(s) for _ in range(self.dist_env.world_size)]
            self._dist.all_gather(parts, s.contiguous())
            full.append(torch.cat(parts, dim=1))
        self._full_state = tuple(full)

    def evaluate_val(self):
        local, self.layout = self.layout, self.global_layout
        try:
            return super().evaluate_val()
        finally:
            self.layout = local

    def run_eval_and_save(self, train_loss: float):
        self._last_eval_synced = self._synced_elapsed
        self._gather_state()
        try:
            return super().run_eval_and_save(train_loss) if self.dist_env.rank == 0 else None
        finally:
            self._full_state = None

    def save(self, *, best: bool = False) -> None:
        gathered_here = self._full_state is None
        if gathered_here:  # called directly by run() (stopped or diverged): every rank is here
            self._gather_state()
        try:
            if self.dist_env.rank == 0:
                super().save(best=best)
        finally:
            if gathered_here:
                self._full_state = None

    def checkpoint(self, *, with_optimizer: bool = True):
        ckpt = super().checkpoint(with_optimizer=with_optimizer)
        if with_optimizer and self._full_state is not None:
            for i, s in enumerate(self._full_state):
                ckpt.tensors[f"train.state.{i}"] = s
        ckpt.train["world_size"] = self.dist_env.world_size
        return ckpt

    def run(self, stop: threading.Event | None = None):
        # A stop request (Ctrl-C, SIGTERM) is shared at the next step, so all ranks stop together.
        self._requested = stop or threading.Event()
        self._agreed = threading.Event()
        done = super().run(self._agreed)
        self._dist.barrier()  # the final checkpoint is on disk before any rank returns
        return done
