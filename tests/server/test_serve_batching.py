"""The per-model worker batches compatible requests: real model, real worker thread, no HTTP.

Jobs are queued before the worker starts, so which ones meet in a batch does not depend on timing.
"""

from __future__ import annotations

import threading

import pytest
from helpers.cli import run_cli

import rnngen
from rnngen.server.batching import ModelWorker
from rnngen.server.generation import Job
from rnngen.server.requests import CompletionRequest


class Answer:
    """Collects one job's events the way the HTTP handler does."""

    def __init__(self, request: CompletionRequest):
        self.texts = [""] * request.choices
        self.reasons: list[str | None] = [None] * request.choices
        self.usage: dict | None = None
        self.done = threading.Event()
        self.job = Job(request, 0, self.take)

    def take(self, events) -> None:
        for event in events:
            if event[0] == "piece":
                self.texts[event[1]] += event[2]
            elif event[0] == "end":
                self.reasons[event[1]] = event[2]
            else:
                assert event[0] == "done", event
                self.usage = event[1]
                self.done.set()


@pytest.fixture
def model(talking_ckpt):
    return rnngen.load(talking_ckpt)


def run_all(model, requests: list[CompletionRequest]) -> tuple[list[Answer], dict]:
    worker = ModelWorker("char", model, window_s=0.0)
    answers = [Answer(r) for r in requests]
    for answer in answers:
        worker.submit(answer.job)
    worker.start()
    for answer in answers:
        assert answer.done.wait(60)
    worker.close()
    return answers, worker.stats


def greedy(ckpt, prime: str, length: int) -> str:
    return run_cli("sample", ckpt, "--prime", prime, "--length", str(length), "--temp", "0").output[len(prime) : -1]


def test_compatible_requests_share_one_batch_with_their_own_prompts_and_lengths(model, talking_ckpt):
    # A temperature so low that sampling is the argmax: each row must then be its own prompt's
    # greedy text, which fails if rows and primed states were mixed up when joined.
    prompts = ["All:", "First Citizen:", "Speak", "", "you k"]
    requests = [CompletionRequest("char", (p,), max_tokens=10 + 7 * i, temperature=1e-9) for i, p in enumerate(prompts)]
    answers, stats = run_all(model, requests)
    assert stats == {"alone": 0, "batches": 1, "batched": 5, "largest_batch": 5}
    for request, answer in zip(requests, answers):
        assert answer.texts[0] == greedy(talking_ckpt, request.prompts[0], request.max_tokens)
        assert answer.reasons == ["length"] and answer.usage["completion_tokens"] == request.max_tokens


def test_stops_end_rows_early_while_the_others_go_on(model):
    requests = [
        CompletionRequest("char", ("All:",), max_tokens=60, temperature=0.8, n=3, stops=("e",)),  # soon
        CompletionRequest("char", ("First",), max_tokens=45, temperature=0.8, n=2),
    ]
    (stopped, full), stats = run_all(model, requests)
    assert stats["batches"] == 1 and stats["largest_batch"] == 5
    assert all("e" not in t for t in stopped.texts)
    assert all(r == "stop" or len(t) == 60 for t, r in zip(stopped.texts, stopped.reasons))
    assert [len(t) for t in full.texts] == [45, 45] and full.reasons == ["length", "length"]


def test_different_settings_and_seeded_requests_are_not_batched_together(model):
    requests = [
        CompletionRequest("char", ("All:",), max_tokens=20, temperature=0.8),
        CompletionRequest("char", ("All:",), max_tokens=20, temperature=0.5),  # another temperature
        CompletionRequest("char", ("All:",), max_tokens=20, temperature=0.8, seed=3),  # alone: reproducible
        CompletionRequest("char", ("All:",), max_tokens=20, temperature=0),  # alone: reproducible
        CompletionRequest("char", ("All:",), max_tokens=20, temperature=0.8, top_k=3),  # another top-k
    ]
    answers, stats = run_all(model, requests)
    assert stats == {"alone": 2, "batches": 3, "batched": 3, "largest_batch": 1}
    assert all(len(a.texts[0]) == 20 for a in answers)
    seeded_again, _ = run_all(model, [requests[2]])
    assert seeded_again[0].texts == answers[2].texts


def test_a_cancelled_request_leaves_the_batch_and_the_rest_finish(model):
    requests = [CompletionRequest("char", ("All:",), max_tokens=30, temperature=0.8) for _ in range(3)]
    worker = ModelWorker("char", model, window_s=0.0)
    answers = [Answer(r) for r in requests]
    answers[1].job.cancelled.set()
    for answer in answers:
        worker.submit(answer.job)
    worker.start()
    assert answers[0].done.wait(60) and answers[2].done.wait(60)
    worker.close()
    assert not answers[1].done.is_set() and answers[1].texts == [""]
