"""``rnngen tui --web``: the inspector in a browser, served by textual-serve.

textual-serve starts one process per browser tab from a shell command line. That command is
rnngen's own ``tui`` for the same checkpoint, with every argument shell-quoted
(``shlex.join``), so no path, prompt or option value is ever read as shell syntax.
"""

from __future__ import annotations

import asyncio
import ipaddress
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
QUIT_WAIT = 10.0  # seconds an inspector gets to quit when the server stops, before it is killed


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


class OneLineFormatter(logging.Formatter):
    """A log record on one line: the message and the exception's own words, no traceback
    (a malformed request from a client is not the server's bug)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message += f": {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        return " ".join(message.split())


def is_loopback(host: str) -> bool:
    """Whether a host name or address is this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refuse(host_header: str | None, origin: str | None, *, loopback: bool) -> str | None:
    """Why a request is refused, or None: a server bound to loopback answers only requests
    addressed to a loopback name, and a request from a page answers only a page of ours."""
    from yarl import URL

    if not host_header:
        return "no Host header"
    try:
        host = URL(f"http://{host_header}")
        if host.host is None:
            raise ValueError(host_header)
    except ValueError:
        return f"bad Host header {host_header!r}"
    if loopback and not is_loopback(host.host):
        return f"this server answers only requests to 127.0.0.1 or localhost, not {host.host!r}"
    if origin is not None:
        try:
            page = URL(origin)
        except ValueError:
            return f"bad Origin header {origin!r}"
        if (page.host, page.port) != (host.host, host.port):
            return f"a page from {origin!r} may not use this server"
    return None


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
            self.loopback = is_loopback(sock.getsockname()[0])
            self.sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
            self.processes: set[asyncio.subprocess.Process] = set()

        def initialize_logging(self) -> None:
            # No access log or banner: only warnings and errors, one line each, on stderr.
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(OneLineFormatter())
            logging.basicConfig(level=logging.WARNING, handlers=[handler])

        async def on_startup(self, app: web.Application) -> None:
            print(f"serving the inspector at {self.public_url} (Ctrl-C stops)", flush=True)

        async def on_shutdown(self, app: web.Application) -> None:
            # Open tabs would hold the server for aiohttp's whole shutdown timeout; closing
            # their sockets ends each session, which tells its inspector process to quit.
            await asyncio.gather(
                *(ws.close(code=WSCloseCode.GOING_AWAY) for ws in list(self.sockets)), return_exceptions=True
            )

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(self.same_origin_only)
            app.on_cleanup.append(self.on_cleanup)
            return app

        @web.middleware
        async def same_origin_only(self, request: web.Request, handler: Any) -> web.StreamResponse:
            # textual-serve checks neither: without this, any web page the user visits could
            # open our websocket (browsers let any origin do that) or, by pointing its own
            # name at 127.0.0.1 (DNS rebinding), read our pages and drive an inspector.
            refusal = refuse(request.host, request.headers.get("Origin"), loopback=self.loopback)
            if refusal:
                raise web.HTTPForbidden(text=refusal)
            return await handler(request)

        async def handle_index(self, request: web.Request) -> Any:
            # The page's links and websocket point where the browser reached us (a wildcard
            # host such as 0.0.0.0 is no address a browser can use).
            if request.host:
                self.public_url = f"{request.scheme}://{request.host}"
            return await super().handle_index(request)

        async def _process_messages(self, websocket: web.WebSocketResponse, app_service: Any) -> None:
            # Called once per tab, with its open websocket and its running inspector process.
            self.sockets.add(websocket)
            process = getattr(app_service, "_process", None)  # textual-serve never waits for it
            if process is not None:
                self.processes.add(process)
                reaper = asyncio.ensure_future(process.wait())
                reaper.add_done_callback(lambda _: self.processes.discard(process))
            await super()._process_messages(websocket, app_service)

        async def on_cleanup(self, app: web.Application) -> None:
            # Every tab was told to quit (on_shutdown); wait until each inspector has, so none
            # outlives the server, and end any that hangs.
            running = [process for process in self.processes if process.returncode is None]
            if running:
                await asyncio.wait([asyncio.ensure_future(p.wait()) for p in running], timeout=QUIT_WAIT)
                for process in running:
                    if process.returncode is None:
                        try:
                            process.kill()
                        except ProcessLookupError:  # it exited just now
                            pass
                        await process.wait()

        def serve(self, debug: bool = False) -> None:
            self.debug = debug
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, self.request_exit)
            web.run_app(self._make_app(), sock=self.sock, handle_signals=False, loop=loop, print=None)

    InspectorServer(inspector_command(tui_args), listen(host, port)).serve()
