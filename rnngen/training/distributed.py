"""Data-parallel training on torch.distributed: one process per CPU group or GPU.

``torchrun --nproc-per-node N -m rnngen train ...`` starts N copies of the CLI; each sees
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` in its environment, joins the process group
(gloo on CPU, NCCL on CUDA) and trains a :class:`DistributedTrainer`:

- The training text is laid out as ``--batch-size`` streams exactly as in one process;
  rank r trains on streams ``[r*B/N, (r+1)*B/N)`` (disjoint), carrying its own hidden
  state. DistributedDataParallel averages the gradients, so N processes compute the
  same update as one process with the whole batch (up to float rounding): the run is
  the same run, only faster. ``--batch-size`` must therefore be a multiple of N.
- Ranks agree every step on the mean loss, the training time (rank 0's clock) and
  whether anyone was asked to stop, so budgets, the learning-rate schedule,
  evaluations and Ctrl-C are decided identically everywhere and no rank waits forever.
- Rank 0 alone reports events, evaluates, and writes checkpoints. Before a save the
  ranks gather their hidden states, so the checkpoint holds the whole batch's state
  and looks like a one-process checkpoint: resume with the same N (or any N that
  divides the batch, or one process) continues exactly where it stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass

import torch

from rnngen.data import StreamBatches, StreamLayout
from rnngen.errors import RnngenError, setting
from rnngen.training import schedule
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
        raise RnngenError("WORLD_SIZE is set but RANK is not: start distributed runs with torchrun") from None


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    e = env()
    return e.rank if e else 0


@contextlib.contextmanager
def process_group(e: DistEnv, device_name: str):
    """Join the process group for the run (gloo on CPU, NCCL on CUDA) and leave it after."""
    import torch.distributed as dist

    device = pick_device(device_name)
    if device.type == "cuda":
        if e.local_rank >= torch.cuda.device_count():
            raise RnngenError(f"local rank {e.local_rank} has no GPU: this machine has {torch.cuda.device_count()}")
        torch.cuda.set_device(e.local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    owned = not dist.is_initialized()
    if owned:
        try:
            dist.init_process_group(backend=backend)
        except (RuntimeError, ValueError) as exc:
            raise RnngenError(f"could not join the process group ({backend}): {str(exc).splitlines()[0]}") from None
    try:
        yield
    finally:
        if owned and dist.is_initialized():
            dist.destroy_process_group()


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
        """One all-reduce per step: the mean loss, rank 0's clock, and whether anyone was asked to stop."""
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


# ---- launching -----------------------------------------------------------------------


def torchrun_command(nproc: int, args: list[str]) -> list[str]:
    """The torchrun command line for ``rnngen --nproc N``: one machine, a free port."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "rnngen",
        *args,
    ]


def launch(nproc: int, args: list[str], *, threads: int | None = None) -> int:
    """Run ``rnngen ARGS`` in ``nproc`` processes under torchrun; returns its exit code.

    Ctrl-C (or SIGTERM) is passed on as SIGTERM: every rank saves and stops together.
    A second Ctrl-C kills the job at once (checkpoints are written atomically).
    """
    if nproc < 1:
        raise RnngenError(f"{setting('nproc')} must be at least 1")
    environment = dict(os.environ)
    if "OMP_NUM_THREADS" not in environment:
        per_rank = threads or max(1, (os.cpu_count() or 1) // nproc)
        environment["OMP_NUM_THREADS"] = str(per_rank)
    proc = subprocess.Popen(torchrun_command(nproc, args), env=environment, start_new_session=True)
    asked: list[int] = []

    def forward(signum, frame):
        if asked:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            asked.append(signum)
            proc.send_signal(signal.SIGTERM)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, forward)
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:
                forward(signal.SIGINT, None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
