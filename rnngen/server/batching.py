"""One worker thread per served model: it takes requests from a queue and batches them.

A request with a seed or temperature 0 runs by itself (its answer must not depend on other
requests). Any other request starts a batch: the worker waits ``window_s`` for more requests
with the same temperature, top-k and top-p, runs them as one, and lets further compatible
requests join between steps, until a request that cannot join is waiting (it goes next, so
nothing waits behind an endless stream of compatible work).
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections import deque
from functools import partial

from rnngen.api import Model
from rnngen.sampling import StepModel
from rnngen.server.generation import Job, run_alone, run_together


def batch_key(job: Job) -> tuple[float, int, float]:
    r = job.request
    return (r.temperature, r.top_k, r.top_p)


class ModelWorker:
    """The thread that generates for one model; ``submit`` is safe from any thread."""

    def __init__(self, name: str, model: Model, *, window_s: float = 0.004, max_rows: int = 256):
        self.name, self.model = name, model
        self.window_s, self.max_rows = window_s, max_rows
        self.stepper = StepModel(model.net)
        self.queue: queue.Queue[Job | None] = queue.Queue()
        self.backlog: deque[Job | None] = deque()  # taken from the queue, could not join the batch
        # Read by GET /health: requests answered alone, batches, requests in batches, the largest batch's rows.
        self.stats = {"alone": 0, "batches": 0, "batched": 0, "largest_batch": 0}
        self.thread = threading.Thread(target=self._serve, name=f"rnngen-serve-{name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def submit(self, job: Job) -> None:
        self.queue.put(job)

    def close(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then end the thread."""
        self.queue.put(None)
        self.thread.join(timeout)

    def _next(self) -> Job | None:
        return self.backlog.popleft() if self.backlog else self.queue.get()

    def _serve(self) -> None:
        while (job := self._next()) is not None:
            if job.cancelled.is_set():
                continue
            batch = [job]
            try:
                if job.request.reproducible:
                    self.stats["alone"] += 1
                    run_alone(self.model, self.stepper, job)
                else:
                    batch = self._gather(job)
                    self.stats["batches"] += 1
                    admit = partial(self._admit, batch_key(job))
                    run_together(self.model, self.stepper, batch, admit, self.max_rows, self._count)
            except Exception as exc:  # a worker never dies: the requests in hand get an error instead
                print(f"rnngen serve: {self.name}: generation failed: {exc!r}", file=sys.stderr, flush=True)
                for failed in batch:
                    failed.fail("generation failed; see the server's log")

    def _count(self, jobs: int, rows: int) -> None:
        self.stats["batched"] += jobs
        self.stats["largest_batch"] = max(self.stats["largest_batch"], rows)

    def _gather(self, first: Job) -> list[Job]:
        """``first`` and the compatible requests that arrive within the batching window."""
        batch, rows, key = [first], first.request.choices, batch_key(first)
        deadline = time.monotonic() + self.window_s
        while rows < self.max_rows and not self.backlog:
            wait = deadline - time.monotonic()
            if wait <= 0:
                break
            try:
                job = self.queue.get(timeout=wait)
            except queue.Empty:
                break
            if job is not None and batch_key(job) == key and not job.request.reproducible:
                batch.append(job)
                rows += job.request.choices
            else:
                self.backlog.append(job)
        return batch

    def _admit(self, key: tuple[float, int, float], room: int) -> list[Job]:
        """Compatible requests waiting now (no waiting), while nothing else is waiting."""
        joined: list[Job] = []
        while not self.backlog:
            try:
                job = self.queue.get_nowait()
            except queue.Empty:
                break
            if (
                job is not None
                and batch_key(job) == key
                and not job.request.reproducible
                and job.request.choices <= room
            ):
                joined.append(job)
                room -= job.request.choices
            else:
                self.backlog.append(job)
        return joined
