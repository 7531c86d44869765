"""What a ``POST /v1/completions`` body may say, checked field by field into a ``CompletionRequest``.

Every refusal is an ``ApiError`` carrying the HTTP status and OpenAI's error shape
(``{"error": {"message", "type", "code"}}``); nothing here raises anything else for any input.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Limits:
    """The server's limits (each one a ``rnngen serve`` option)."""

    max_tokens: int = 1024  # per choice
    n: int = 16  # choices per request (n x the number of prompts)
    prompt_chars: int = 8192  # per prompt
    body_bytes: int = 1 << 20
    concurrent: int = 128  # requests being answered at once; one more is refused with 429


class ApiError(Exception):
    """A request the server refuses: the status and OpenAI's error body."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "code": self.code, "param": None}}


@dataclass(frozen=True)
class CompletionRequest:
    """A checked completions request (OpenAI's field names and defaults)."""

    model: str
    prompts: tuple[str, ...]
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # rnngen's own: 0 = off
    n: int = 1
    stops: tuple[str, ...] = ()
    seed: int | None = None
    stream: bool = False
    include_usage: bool = False  # stream_options.include_usage: a last chunk with the usage

    @property
    def choices(self) -> int:
        return self.n * len(self.prompts)

    @property
    def reproducible(self) -> bool:
        """A seed or temperature 0 asks for an answer that does not depend on other requests."""
        return self.seed is not None or self.temperature == 0


KNOWN = {"model", "prompt", "max_tokens", "temperature", "top_p", "top_k", "n", "stop", "seed", "stream",
         "stream_options", "user", "echo", "logprobs", "best_of", "suffix", "logit_bias",
         "frequency_penalty", "presence_penalty"}  # fmt: skip
MAX_STOPS = 16


def bad(message: str, code: str | None = None) -> ApiError:
    return ApiError(400, message, code=code)


def parse_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise bad("the request body is not valid JSON", "invalid_json") from None
    if not isinstance(doc, dict):
        raise bad("the request body must be a JSON object", "invalid_json")
    return doc


def _integer(doc: dict, name: str, default: int | None, low: int, high: int) -> int | None:
    value = doc.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"{name} must be an integer, not {json.dumps(value)[:40]}", "invalid_type")
    if not low <= value <= high:
        raise bad(f"{name} must be from {low} to {high}, not {value}", "invalid_value")
    return value


def _number(doc: dict, name: str, default: float) -> float:
    value = doc.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(f"{name} must be a number, not {json.dumps(value)[:40]}", "invalid_type")
    value = float(value)
    if not math.isfinite(value):
        raise bad(f"{name} must be a finite number", "invalid_value")
    return value


def _prompts(doc: dict, limits: Limits) -> tuple[str, ...]:
    prompt = doc.get("prompt")
    if prompt is None:
        raise bad("prompt is required (a string or a list of strings)", "missing_field")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise bad("prompt must be a string or a non-empty list of strings (token ids are not taken)", "invalid_type")
    for p in prompts:
        if len(p) > limits.prompt_chars:
            raise bad(f"a prompt may hold at most {limits.prompt_chars} characters, not {len(p)}", "prompt_too_long")
    return tuple(prompts)


def _stops(doc: dict) -> tuple[str, ...]:
    stop = doc.get("stop")
    if stop is None:
        return ()
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise bad("stop must be a string or a list of strings", "invalid_type")
    if len(stops) > MAX_STOPS:
        raise bad(f"stop may hold at most {MAX_STOPS} texts, not {len(stops)}", "invalid_value")
    if any(not s for s in stops):
        raise bad("a stop text must not be empty", "invalid_value")
    return tuple(stops)


def _unsupported(doc: dict) -> None:
    """OpenAI fields rnngen does not implement: taken at their 'off' values, refused otherwise."""
    off: dict[str, tuple[Any, ...]] = {
        "echo": (False,), "logprobs": (0,), "suffix": ("",), "logit_bias": ({},),
        "frequency_penalty": (0,), "presence_penalty": (0,),
    }  # fmt: skip
    for name, values in off.items():
        if doc.get(name) is not None and doc[name] not in values:
            raise bad(f"{name} is not supported by rnngen serve (leave it out)", "unsupported_parameter")
    best_of = doc.get("best_of")
    if best_of is not None and best_of != doc.get("n", 1):
        raise bad("best_of is not supported by rnngen serve (leave it out or equal to n)", "unsupported_parameter")


def parse_completion(doc: dict[str, Any], limits: Limits) -> CompletionRequest:
    """Check every field of a completions request (the model's existence is the app's check)."""
    unknown = sorted(set(doc) - KNOWN)
    if unknown:
        raise bad(f"unknown field(s): {', '.join(unknown)[:200]}", "unknown_parameter")
    model = doc.get("model")
    if not isinstance(model, str) or not model:
        raise bad("model is required: one of the ids GET /v1/models lists", "missing_field")
    _unsupported(doc)
    prompts = _prompts(doc, limits)
    stream = doc.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad("stream must be true or false", "invalid_type")
    options = doc.get("stream_options")
    if options is not None and (not isinstance(options, dict) or set(options) - {"include_usage"}):
        raise bad('stream_options may only hold "include_usage"', "invalid_value")
    include_usage = bool((options or {}).get("include_usage"))
    if options is not None and not stream:
        raise bad("stream_options needs stream: true", "invalid_value")
    temperature = _number(doc, "temperature", 1.0)
    if temperature < 0:
        raise bad(f"temperature must be 0 or more, not {temperature}", "invalid_value")
    top_p = _number(doc, "top_p", 1.0)
    if not 0 < top_p <= 1:
        raise bad(f"top_p must be more than 0 and at most 1, not {top_p}", "invalid_value")
    n = _integer(doc, "n", 1, 1, limits.n)
    assert n is not None
    if n * len(prompts) > limits.n:
        raise bad(f"n x the number of prompts must be at most {limits.n}, not {n * len(prompts)}", "invalid_value")
    max_tokens = _integer(doc, "max_tokens", min(16, limits.max_tokens), 0, limits.max_tokens)
    top_k = _integer(doc, "top_k", 0, 0, 1 << 30)
    seed = _integer(doc, "seed", None, -(1 << 63), (1 << 64) - 1)
    user = doc.get("user")
    if user is not None and not isinstance(user, str):
        raise bad("user must be a string", "invalid_type")
    assert max_tokens is not None and top_k is not None
    return CompletionRequest(
        model=model, prompts=prompts, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
        top_k=top_k, n=n, stops=_stops(doc), seed=seed, stream=bool(stream), include_usage=include_usage,
    )  # fmt: skip
