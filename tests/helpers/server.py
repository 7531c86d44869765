"""``rnngen serve`` as a real subprocess on a free loopback port, and plain HTTP calls to it."""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


class ServerProcess:
    """``rnngen serve CKPT... --port 0``; the URL comes from its first line of output."""

    def __init__(self, *ckpts: Path, args: tuple[str, ...] = (), env: dict[str, str] | None = None):
        command = [sys.executable, "-m", "rnngen", "serve", *map(str, ckpts), "--port", "0", "--threads", "1", *args]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        first = self.next_line(timeout=120)
        if "http://" not in first:
            self.proc.kill()
            raise AssertionError(f"no URL from rnngen serve: {first!r}\n{self.proc.stderr.read()}")
        self.url = first.split()[2].removesuffix("/v1")  # "rnngen serve: http://127.0.0.1:PORT/v1 models: ..."
        self.first_line = first
        self.host, port = self.url.removeprefix("http://").rsplit(":", 1)
        self.port = int(port)

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put("")  # end of output

    def next_line(self, timeout: float = 60) -> str:
        return self.lines.get(timeout=timeout)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Signal it and wait for its exit code."""
        self.proc.send_signal(signum)
        return self.wait(timeout)

    def wait(self, timeout: float = 60) -> int:
        """Its exit code, once it has exited by itself (after a signal already sent)."""
        return self.proc.wait(timeout)

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=60)

    def call(
        self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict]:
        """(status, the JSON answer); ``body`` bytes go as they are, anything else as JSON."""
        raw = body if isinstance(body, bytes) else (None if body is None else json.dumps(body).encode())
        conn = self.connection()
        try:
            conn.request(method, path, body=raw, headers={"Content-Type": "application/json", **(headers or {})})
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()

    def health(self) -> dict:
        return self.call("GET", "/health")[1]

    def wait_in_flight(self, count: int, timeout: float = 60) -> None:
        """Poll /health until ``count`` requests are in flight."""
        deadline = time.monotonic() + timeout
        while self.health()["in_flight"] != count:
            assert time.monotonic() < deadline, f"never {count} request(s) in flight"
            time.sleep(0.01)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


def half_sent(server: ServerProcess, body: dict, headers: dict[str, str] | None = None) -> tuple:
    """A completions request whose body is only half sent, so it stays in flight until
    ``finish()`` sends the rest; returns (connection, finish)."""
    raw = json.dumps(body).encode()
    conn = server.connection()
    conn.putrequest("POST", "/v1/completions")
    for name, value in {"Content-Type": "application/json", "Content-Length": str(len(raw)), **(headers or {})}.items():
        conn.putheader(name, value)
    conn.endheaders()
    conn.send(raw[: len(raw) // 2])

    def finish() -> tuple[int, dict]:
        conn.send(raw[len(raw) // 2 :])
        response = conn.getresponse()
        return response.status, json.loads(response.read())

    return conn, finish
