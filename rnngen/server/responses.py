"""The JSON the server answers with, in OpenAI's completions shape: whole responses and the
server-sent events of a stream (``data: {...}`` per chunk, ``data: [DONE]`` at the end)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

DONE = b"data: [DONE]\n\n"


@dataclass
class Completion:
    """One answer being built: its id, what each choice has said so far, how each ended."""

    model: str
    choices: int
    id: str = field(default_factory=lambda: "cmpl-" + secrets.token_hex(12))
    created: int = 0
    texts: list[list[str]] = field(default_factory=list)
    reasons: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.texts = [[] for _ in range(self.choices)]
        self.reasons = [None] * self.choices

    def _head(self) -> dict[str, Any]:
        return {"id": self.id, "object": "text_completion", "created": self.created, "model": self.model}

    def body(self, usage: dict[str, int]) -> dict[str, Any]:
        """The whole (non-streamed) response."""
        choices = [
            {"text": "".join(t), "index": i, "logprobs": None, "finish_reason": self.reasons[i]}
            for i, t in enumerate(self.texts)
        ]
        return {**self._head(), "choices": choices, "usage": usage}

    def chunk(self, index: int, text: str, finish_reason: str | None = None) -> bytes:
        """One streamed event: new text of one choice, or (with ``finish_reason``) its end."""
        choice = {"text": text, "index": index, "logprobs": None, "finish_reason": finish_reason}
        return event({**self._head(), "choices": [choice]})

    def usage_chunk(self, usage: dict[str, int]) -> bytes:
        """stream_options.include_usage: a last chunk with no choices and the usage."""
        return event({**self._head(), "choices": [], "usage": usage})


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def event(doc: dict[str, Any]) -> bytes:
    """One server-sent event holding ``doc`` (JSON has no raw newline, so one data line)."""
    return b"data: " + json.dumps(doc, ensure_ascii=False).encode("utf-8") + b"\n\n"
