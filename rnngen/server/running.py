"""Start the server, say where it listens, and on Ctrl-C / SIGTERM drain it and stop.

Draining: the listening socket closes, requests already accepted are answered to the end
(new ones on open connections get 503), then the workers stop. A second signal stops at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from rnngen.api import Model
from rnngen.errors import RnngenError
from rnngen.server.app import STATE, Served, build_app
from rnngen.server.batching import ModelWorker
from rnngen.server.requests import Limits


def model_names(paths: list[Path]) -> list[str]:
    """The model ids: each checkpoint's file stem, refused when two are the same."""
    names: dict[str, Path] = {}
    for path in paths:
        name = path.name if path.is_dir() else path.stem
        if name in names:
            raise RnngenError(f"{names[name]} and {path} would both be model {name!r}; rename one")
        names[name] = path
    return list(names)


def load_models(paths: list[Path], load: Callable[[Path], Model], max_rows: int) -> dict[str, Served]:
    served = {}
    for name, path in zip(model_names(paths), paths):
        model = load(path)
        served[name] = Served(name, model, ModelWorker(name, model, max_rows=max_rows))
    return served


async def serve(
    models: dict[str, Served],
    *,
    host: str,
    port: int,
    limits: Limits,
    api_key: str | None,
    say: Callable[[str], None],
) -> bool:
    """Run until a signal; True when every accepted request was answered before stopping."""
    app = build_app(models, limits, api_key)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise RnngenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    for served in models.values():
        served.worker.start()
    bound = runner.addresses[0]
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    # Handlers first: once the URL is shown, Ctrl-C must drain, never interrupt.
    loop = asyncio.get_running_loop()
    signals = asyncio.Queue[int]()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, signals.put_nowait, signum)
    say(f"rnngen serve: http://{shown}:{bound[1]}/v1 models: {', '.join(models)} (Ctrl-C stops)")
    await signals.get()
    state = app[STATE]
    state.draining = True
    await site.stop()  # no new connections
    say(f"rnngen serve: stopping; answering {state.in_flight} request(s) in progress first")
    waiting = asyncio.ensure_future(state.idle.wait())
    second = asyncio.ensure_future(signals.get())
    await asyncio.wait([waiting, second], return_when=asyncio.FIRST_COMPLETED)
    drained = waiting.done()
    for task in (waiting, second):
        task.cancel()
    # From here on a further signal ends the process at once. Left to asyncio, the loop's
    # handlers would go back to Python's default and a late Ctrl-C would print a
    # KeyboardInterrupt traceback from some exit hook.
    code = 0 if drained else 130
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(signum)
        signal.signal(signum, lambda *_: os._exit(code))
    await runner.cleanup()
    for served in models.values():
        served.worker.close(timeout=5.0 if drained else 0.1)
    return drained
