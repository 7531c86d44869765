"""``rnngen tui CKPT --web``: the inspector served by textual-serve, opened in a real headless
chromium (tests/helpers/browser.py), driven by keys, then stopped with Ctrl-C."""

from __future__ import annotations

import http.client
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from rnngen.tui.web import inspector_command
from tests.helpers.browser import headless_chromium, press, wait_for_screen
from tests.helpers.cli import run_cli
from tests.helpers.errors import assert_clean_failure

URL_LINE = re.compile(r"serving the inspector at (http://127\.0\.0\.1:\d+) \(Ctrl-C stops\)")


def wait_until(condition, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)  # a poll interval
    raise AssertionError(f"waited {timeout}s for {what}")


def process_group(pgid: int) -> dict[int, list[str]]:
    """Every live process in a process group: pid -> its command line."""
    members = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            stat = (entry / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":  # a zombie has exited
                continue
            members[int(entry.name)] = (entry / "cmdline").read_bytes().decode().split("\0")[:-1]
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
    return members


def test_the_browser_shows_the_inspector_keys_switch_views_and_ctrl_c_ends_every_session(char_ckpt, tmp_path):
    # A folder name full of shell syntax: the tab's command must still get it as one argument.
    folder = tmp_path / "web $(touch pwned); 'single' \"double\" `touch pwned2`"
    folder.mkdir()
    ckpt = shutil.copy(char_ckpt, folder / "char.safetensors")
    out, err = tmp_path / "server.out", tmp_path / "server.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-m", "rnngen", "tui", str(ckpt), "--web", "--port", "0", "--seed", "1"],
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches it
        )
    chrome = None
    try:
        url = wait_until(lambda: (m := URL_LINE.search(out.read_text())) and m.group(1), "the URL line")
        chrome = headless_chromium()
        chrome.get(url)
        sample = wait_for_screen(chrome, lambda s: "entropy" in s and "bars: model p" in s, "the sample view")
        assert "1 Sample" in sample and "char.safetensors" in sample
        before = chrome.get_screenshot_as_png()
        (tmp_path / "sample.png").write_bytes(before)

        # The tab runs rnngen's own tui for that checkpoint, in one process of its own.
        tabs = [cmd for pid, cmd in process_group(server.pid).items() if pid != server.pid]
        assert len(tabs) == 1, tabs
        assert tabs[0][:5] == [sys.executable, "-m", "rnngen", "tui", str(Path(ckpt).resolve())]
        assert "--web" not in tabs[0]

        press(chrome, "2")
        hidden = wait_for_screen(chrome, lambda s: "mean|h|" in s and "entropy" not in s, "the hidden view after 2")
        assert "char.safetensors" in hidden.splitlines()[0]  # the same app, another view
        after = chrome.get_screenshot_as_png()
        (tmp_path / "hidden.png").write_bytes(after)
        assert after != before  # the canvas was repainted, not only xterm's buffer

        # Ctrl-C with the tab still open: the group gets SIGINT, as from a terminal.
        os.killpg(server.pid, signal.SIGINT)
        assert server.wait(timeout=60) == 0, err.read_text()
        assert process_group(server.pid) == {}  # the server waited for every inspector to end
        wait_until(lambda: chrome.execute_script("return document.body.classList.contains('-closed')"), "Session ended")
    finally:
        if chrome is not None:
            chrome.quit()
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert out.read_text().splitlines() == [URL_LINE.search(out.read_text()).group(0)]  # one line, no noise
    assert err.read_text() == "", err.read_text()
    assert not list(tmp_path.rglob("pwned*")) and not list(Path.cwd().rglob("pwned*"))


def test_the_tab_command_is_rnngens_own_tui_and_quotes_everything():
    args = ["/tmp/a b/$(touch x).safetensors", "--prompt=; rm -rf ~ `id` 'q' \"d\"\n|&", "--seed", "3"]
    command = inspector_command(args)
    assert shlex.split(command) == ["exec", sys.executable, "-m", "rnngen", "tui", *args]
    # The shell itself reads it back unchanged.
    echo = command.replace(shlex.quote(sys.executable), "printf '%s\\0'", 1).replace(" -m rnngen tui", "", 1)
    printed = subprocess.run(["/bin/sh", "-c", echo], capture_output=True, check=True).stdout
    assert printed.decode().split("\0")[:-1] == args


def test_a_missing_textual_serve_is_one_line_naming_the_extra(char_ckpt, monkeypatch):
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)  # what an install without the extra sees
    result = run_cli("tui", char_ckpt, "--web", ok=False)
    assert_clean_failure(result, "tui --web needs textual-serve: pip install 'rnngen[web]'")


def test_a_busy_port_a_bad_one_or_one_without_web_is_one_line(char_ckpt):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert_clean_failure(run_cli("tui", char_ckpt, "--web", "--port", port, ok=False), f"127.0.0.1:{port}")
    assert_clean_failure(run_cli("tui", char_ckpt, "--web", "--port", "70000", ok=False), "--port")
    assert_clean_failure(run_cli("tui", char_ckpt, "--web", "--host", "no.such.host.invalid", ok=False), "listen")
    assert_clean_failure(run_cli("tui", char_ckpt, "--port", "8001", ok=False), "--port needs --web")
    assert_clean_failure(run_cli("tui", char_ckpt, "--host", "0.0.0.0", ok=False), "--host needs --web")


def request(url: str, path: str, headers: dict[str, str]) -> int:
    """The status of GET url/path with exactly these extra headers (Host included)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest("GET", path, skip_host=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_only_pages_addressed_to_loopback_and_our_own_origin_are_answered(char_ckpt, tmp_path):
    """DNS rebinding (another name for 127.0.0.1) and other sites' pages opening the websocket are refused."""
    out, err = tmp_path / "server.out", tmp_path / "server.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-m", "rnngen", "tui", str(char_ckpt), "--web", "--port", "0"],
            stdout=stdout,
            stderr=stderr,
        )
    try:
        url = wait_until(lambda: (m := URL_LINE.search(out.read_text())) and m.group(1), "the URL line")
        port = urllib.parse.urlsplit(url).port
        upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                   "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}  # fmt: skip
        assert request(url, "/", {"Host": f"127.0.0.1:{port}"}) == 200
        assert request(url, "/", {"Host": f"localhost:{port}"}) == 200
        assert request(url, "/", {"Host": f"rebound.example:{port}"}) == 403
        assert request(url, "/", {}) == 400  # aiohttp's own answer: HTTP/1.1 requires a Host
        assert request(url, "/static/js/textual.js", {"Host": f"attacker.example:{port}"}) == 403
        evil = {"Host": f"127.0.0.1:{port}", "Origin": "http://attacker.example"}
        assert request(url, "/ws", evil | upgrade) == 403
        other_port = {"Host": f"127.0.0.1:{port}", "Origin": f"http://127.0.0.1:{port + 1}"}
        assert request(url, "/ws", other_port | upgrade) == 403
        assert request(url, "/ws", {"Host": f"127.0.0.1:{port}", "Origin": "null"} | upgrade) == 403
        server.send_signal(signal.SIGTERM)  # SIGTERM, to the server alone: stops it as Ctrl-C does
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert "Traceback" not in err.read_text()  # a client's malformed request is logged on one line
