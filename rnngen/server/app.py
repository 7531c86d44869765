"""The aiohttp application: routes, the API key, the limits, and turning a worker's events into
a JSON answer or a server-sent event stream.

Every failure leaves as OpenAI's JSON error shape with its status; an unexpected exception is
logged in one line and answered 500, and the server goes on.
"""

from __future__ import annotations

import asyncio
import hmac
import sys
import time
from dataclasses import dataclass, field

from aiohttp import web

from rnngen.api import Model
from rnngen.errors import RnngenError
from rnngen.server.batching import ModelWorker
from rnngen.server.generation import Event, Job, prompt_ids
from rnngen.server.requests import ApiError, CompletionRequest, Limits, parse_body, parse_completion
from rnngen.server.responses import DONE, Completion, event


@dataclass
class Served:
    """A loaded checkpoint and its worker thread."""

    name: str
    model: Model
    worker: ModelWorker
    created: int = field(default_factory=lambda: int(time.time()))


@dataclass
class ServerState:
    models: dict[str, Served]
    limits: Limits
    api_key: str | None
    in_flight: int = 0
    draining: bool = False
    idle: asyncio.Event = field(default_factory=asyncio.Event)


STATE = web.AppKey("state", ServerState)


def error_response(error: ApiError) -> web.Response:
    return web.json_response(error.body(), status=error.status)


@web.middleware
async def json_errors(request: web.Request, handler) -> web.StreamResponse:
    """Every refusal as OpenAI's JSON error, whatever raised it; never a traceback."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except web.HTTPException as exc:  # aiohttp's own: no such path, wrong method
        kind = "not_found_error" if exc.status == 404 else "invalid_request_error"
        message = f"no route {request.method} {request.path}" if exc.status in (404, 405) else exc.reason
        return error_response(ApiError(exc.status, message, kind))
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as exc:
        print(f"rnngen serve: {request.method} {request.path} failed: {exc!r}", file=sys.stderr, flush=True)
        return error_response(ApiError(500, "internal error; see the server's log", "server_error"))


def check_key(state: ServerState, request: web.Request) -> None:
    if state.api_key is None:
        return
    header = request.headers.get("Authorization", "")
    given = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
    # Constant-time: how much of the key matched must not show in the time taken.
    if not hmac.compare_digest(given.encode("utf-8", "replace"), state.api_key.encode("utf-8")):
        raise ApiError(401, "missing or wrong API key (send Authorization: Bearer KEY)", "authentication_error",
                       "invalid_api_key")  # fmt: skip


async def health(request: web.Request) -> web.Response:
    """Liveness, plus what the server is doing: requests in flight, and per model how many
    requests it ran in how many batches (the largest batch in rows)."""
    state = request.app[STATE]
    stats = {name: dict(served.worker.stats) for name, served in state.models.items()}
    return web.json_response(
        {"status": "draining" if state.draining else "ok", "models": list(state.models), "in_flight": state.in_flight,
         "batching": stats}
    )  # fmt: skip


async def list_models(request: web.Request) -> web.Response:
    state = request.app[STATE]
    check_key(state, request)
    data = [
        {"id": s.name, "object": "model", "created": s.created, "owned_by": "rnngen"} for s in state.models.values()
    ]
    return web.json_response({"object": "list", "data": data})


async def read_body(request: web.Request, limit: int) -> bytes:
    """The body, refused with 413 past ``limit`` bytes (declared or actually sent)."""
    too_big = ApiError(413, f"the request body may be at most {limit} bytes", "invalid_request_error", "body_too_large")
    if request.content_length is not None and request.content_length > limit:
        raise too_big
    body = bytearray()
    while chunk := await request.content.read(65536):
        body += chunk
        if len(body) > limit:
            raise too_big
    return bytes(body)


def prompt_token_count(served: Served, completion: CompletionRequest) -> int:
    """Tokens in the prompts; a character the model has never seen is a 400 here, before any work."""
    try:
        return sum(len(prompt_ids(served.model, p)) if p else 0 for p in completion.prompts)
    except RnngenError as exc:
        raise ApiError(400, f"prompt: {exc}", "invalid_request_error", "unknown_character") from None


async def completions(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    check_key(state, request)
    if state.draining:
        raise ApiError(503, "the server is shutting down", "server_error", "shutting_down")
    if state.in_flight >= state.limits.concurrent:
        raise ApiError(429, f"too many requests at once (the limit is {state.limits.concurrent}); retry shortly",
                       "rate_limit_error", "too_many_requests")  # fmt: skip
    state.in_flight += 1
    state.idle.clear()
    try:
        return await answer(request, state)
    finally:
        state.in_flight -= 1
        if state.in_flight == 0:
            state.idle.set()


async def answer(request: web.Request, state: ServerState) -> web.StreamResponse:
    completion = parse_completion(parse_body(await read_body(request, state.limits.body_bytes)), state.limits)
    served = state.models.get(completion.model)
    if served is None:
        raise ApiError(404, f"no model {completion.model!r}; GET /v1/models lists them", "not_found_error",
                       "model_not_found")  # fmt: skip
    prompt_tokens = prompt_token_count(served, completion)
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[list[Event]] = asyncio.Queue()

    def deliver(batch: list[Event]) -> None:  # called on the worker thread
        try:
            loop.call_soon_threadsafe(events.put_nowait, batch)
        except RuntimeError:  # the loop has closed: nobody is listening any more
            pass

    job = Job(completion, prompt_tokens, deliver)
    out = Completion(completion.model, completion.choices, created=int(time.time()))
    served.worker.submit(job)
    try:
        if completion.stream:
            return await stream(request, completion, out, events)
        return await whole(out, events)
    finally:
        job.cancelled.set()  # finished or abandoned: either way the worker may drop it


async def whole(out: Completion, events: asyncio.Queue[list[Event]]) -> web.Response:
    while True:
        for item in await events.get():
            if item[0] == "piece":
                out.texts[item[1]].append(item[2])
            elif item[0] == "end":
                out.reasons[item[1]] = item[2]
            elif item[0] == "done":
                return web.json_response(out.body(item[1]))
            else:
                raise ApiError(500, item[1], "server_error")


async def stream(
    request: web.Request, completion: CompletionRequest, out: Completion, events: asyncio.Queue[list[Event]]
) -> web.StreamResponse:
    """Server-sent events: a chunk per shown piece of text, one per ended choice, then [DONE]."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    try:
        while True:
            batch = await events.get()
            data = bytearray()
            for item in batch:
                if item[0] == "piece":
                    data += out.chunk(item[1], item[2])
                elif item[0] == "end":
                    data += out.chunk(item[1], "", item[2])
                elif item[0] == "done":
                    if completion.include_usage:
                        data += out.usage_chunk(item[1])
                    data += DONE
                else:  # the status line has gone: the error travels as an event
                    data += event(ApiError(500, item[1], "server_error").body())
            await response.write(bytes(data))
            if batch[-1][0] in ("done", "failed"):
                break
        await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass  # the client went away; the caller cancels the job
    return response


def build_app(models: dict[str, Served], limits: Limits, api_key: str | None) -> web.Application:
    app = web.Application(middlewares=[json_errors], client_max_size=limits.body_bytes)
    state = ServerState(models, limits, api_key)
    state.idle.set()
    app[STATE] = state
    app.router.add_get("/health", health)
    app.router.add_get("/v1/models", list_models)
    app.router.add_post("/v1/completions", completions)
    return app
