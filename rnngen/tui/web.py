"""``rnngen tui --web``: the inspector in a browser, served by textual-serve.

textual-serve starts one process per browser tab from a shell command line. That command is
rnngen's own ``tui`` for the same checkpoint, with every argument shell-quoted
(``shlex.join``), so no path, prompt or option value is ever read as shell syntax.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import signal
import socket
import sys
import weakref
from collections.abc import Sequence
from typing import Any

from rnngen.errors import RnngenError

INSTALL_HINT = "pip install 'rnngen[web]'"


def inspector_command(tui_args: Sequence[str]) -> str:
    """The shell command textual-serve runs per browser tab: this Python's ``rnngen tui ARGS``.

    ``exec`` replaces the shell with Python, so the quit signal from textual-serve reaches the app.
    """
    return "exec " + shlex.join([sys.executable, "-m", "rnngen", "tui", *tui_args])


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free port), or a one-line error."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as error:
        raise RnngenError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise RnngenError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def serve(tui_args: Sequence[str], *, host: str, port: int, title: str) -> None:
    """Serve ``rnngen tui TUI_ARGS`` to browsers on host:port until Ctrl-C or SIGTERM.

    Prints the URL on one line first. Each browser tab gets its own inspector process; they all
    end (and the tabs say "Session ended") when the server stops.
    """
    try:
        from textual_serve.server import Server
    except ImportError:
        raise RnngenError(f"tui --web needs textual-serve: {INSTALL_HINT}") from None
    from aiohttp import WSCloseCode, web

    class InspectorServer(Server):
        """textual-serve's server, quiet, on a socket bound beforehand, closing its tabs on exit."""

        def __init__(self, command: str, sock: socket.socket) -> None:
            public_url = url_of(sock)
            super().__init__(command, host=host, port=sock.getsockname()[1], title=title, public_url=public_url)
            self.sock = sock
            self.sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

        def initialize_logging(self) -> None:
            # No access log or banner: only warnings and errors, one line each, on stderr.
            logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)

        async def on_startup(self, app: web.Application) -> None:
            print(f"serving the inspector at {self.public_url} (Ctrl-C stops)", flush=True)

        async def on_shutdown(self, app: web.Application) -> None:
            # Open tabs would hold the server for aiohttp's whole shutdown timeout; closing
            # their sockets ends each session, which tells its inspector process to quit.
            await asyncio.gather(
                *(ws.close(code=WSCloseCode.GOING_AWAY) for ws in list(self.sockets)), return_exceptions=True
            )

        async def handle_index(self, request: web.Request) -> Any:
            # The page's links and websocket point where the browser reached us (a wildcard
            # host such as 0.0.0.0 is no address a browser can use).
            if request.host:
                self.public_url = f"{request.scheme}://{request.host}"
            return await super().handle_index(request)

        async def _process_messages(self, websocket: web.WebSocketResponse, app_service: Any) -> None:
            self.sockets.add(websocket)  # (called once per tab, with its open websocket)
            await super()._process_messages(websocket, app_service)

        def serve(self, debug: bool = False) -> None:
            self.debug = debug
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, self.request_exit)
            web.run_app(self._make_app(), sock=self.sock, handle_signals=False, loop=loop, print=None)

    InspectorServer(inspector_command(tui_args), listen(host, port)).serve()
