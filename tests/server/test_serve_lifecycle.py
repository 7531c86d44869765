"""Starting and stopping ``rnngen serve``: SIGTERM and Ctrl-C answer what is in flight and exit 0;
bad starts (same model id twice, a busy port, no aiohttp) are one line and exit 1; a bounded
load of concurrent streaming clients is answered in full."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time

import aiohttp
import pytest
from helpers.server import ServerProcess, half_sent


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_drains_requests_in_flight_then_exits_0(char_ckpt, signum):
    with ServerProcess(char_ckpt) as server:
        conn, finish = half_sent(server, {"model": "char", "prompt": "All:", "max_tokens": 30, "n": 2})
        server.wait_in_flight(1)
        server.proc.send_signal(signum)
        assert "stopping; answering 1 request(s) in progress first" in server.next_line()
        # The listening socket is closed: nobody new gets in ...
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((server.host, server.port), timeout=10).close()
        # ... while the request already accepted is answered in full.
        status, body = finish()
        assert status == 200 and [len(c["text"]) for c in body["choices"]] == [30, 30]
        conn.close()
        assert server.wait() == 0
        assert "Traceback" not in server.stderr()


def test_a_stream_in_flight_runs_to_done_on_sigterm(char_ckpt):
    with ServerProcess(char_ckpt) as server:
        conn = server.connection()
        body = {"model": "char", "prompt": "All:", "max_tokens": 400, "stream": True}
        conn.request("POST", "/v1/completions", body=json.dumps(body).encode())
        response = conn.getresponse()
        assert response.readline().startswith(b"data: {")  # streaming has begun
        server.proc.send_signal(signal.SIGTERM)
        rest = response.read().decode()
        assert rest.endswith("data: [DONE]\n\n") and '"finish_reason": "length"' in rest
        assert server.wait() == 0


def run_serve(*args: str, prelude: str = "") -> subprocess.CompletedProcess:
    code = f"{prelude}import sys; from rnngen.cli import main; sys.argv = ['rnngen', 'serve', *sys.argv[1:]]; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args, "--port", "0"], capture_output=True, text=True, timeout=120
    )


def one_line_error(result: subprocess.CompletedProcess, words: str) -> None:
    assert result.returncode == 1, result
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert words in result.stderr


def test_two_checkpoints_with_one_stem_are_refused(char_ckpt, tmp_path):
    twin = tmp_path / "char.safetensors"
    twin.write_bytes(char_ckpt.read_bytes())
    one_line_error(run_serve(str(char_ckpt), str(twin)), "would both be model 'char'; rename one")


def test_a_busy_port_is_one_line(char_ckpt):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        code = "import sys; from rnngen.cli import main; sys.argv = ['rnngen', *sys.argv[1:]]; main()"
        result = subprocess.run(
            [sys.executable, "-c", code, "serve", str(char_ckpt), "--port", port],
            capture_output=True,
            text=True,
            timeout=120,
        )
    one_line_error(result, f"cannot listen on 127.0.0.1:{port}")


def test_without_aiohttp_the_error_names_the_extra(char_ckpt):
    result = run_serve(str(char_ckpt), prelude="import sys; sys.modules['aiohttp'] = None; ")
    one_line_error(result, "pip install 'rnngen[serve]'")


def test_a_missing_checkpoint_is_one_line(tmp_path):
    one_line_error(run_serve(str(tmp_path / "absent.safetensors")), "absent.safetensors does not exist")


async def streaming_client(session: aiohttp.ClientSession, url: str, index: int, rounds: int) -> list[str]:
    """``rounds`` streamed completions one after another; the text of each."""
    texts = []
    for r in range(rounds):
        body = {"model": "char", "prompt": "All:", "max_tokens": 20 + (index + r) % 30, "stream": True}
        async with session.post(url + "/v1/completions", json=body) as response:
            assert response.status == 200
            pieces, done = [], False
            async for line in response.content:
                if line.startswith(b"data: [DONE]"):
                    done = True
                elif line.startswith(b"data: "):
                    choice = json.loads(line[6:])["choices"][0]
                    pieces.append(choice["text"])
            assert done and choice["finish_reason"] == "length"
            texts.append("".join(pieces))
    return texts


def test_load_50_concurrent_streaming_clients_all_answered(char_ckpt):
    clients, rounds = 50, 3
    with ServerProcess(char_ckpt) as server:

        async def load() -> list[list[str]]:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
                return await asyncio.gather(*(streaming_client(session, server.url, i, rounds) for i in range(clients)))

        results = asyncio.run(load())
        for i, texts in enumerate(results):
            assert [len(t) for t in texts] == [20 + (i + r) % 30 for r in range(rounds)]
        health = server.health()
        assert health["in_flight"] == 0 and health["batching"]["char"]["batched"] == clients * rounds
        assert server.stop() == 0


def test_a_second_signal_stops_at_once_with_130(char_ckpt):
    with ServerProcess(char_ckpt) as server:
        conn, _finish = half_sent(server, {"model": "char", "prompt": "All:", "max_tokens": 5})
        server.wait_in_flight(1)
        server.proc.send_signal(signal.SIGTERM)
        assert "stopping" in server.next_line()
        server.proc.send_signal(signal.SIGINT)
        assert server.wait() == 130
        assert server.stderr() == "rnngen serve: stopped before every request in progress was answered\n"
        conn.close()


def test_ctrl_c_pressed_again_and_again_while_it_exits_never_shows_a_traceback(char_ckpt):
    """Signals keep coming while the server shuts down (a held Ctrl-C, `timeout` forwarding
    one more): each ends it quietly, never with a KeyboardInterrupt from an exit hook."""
    with ServerProcess(char_ckpt) as server:
        server.proc.send_signal(signal.SIGINT)
        while server.proc.poll() is None:
            try:
                server.proc.send_signal(signal.SIGINT)
            except ProcessLookupError:
                break
            time.sleep(0.0005)
        code = server.wait()
        err = server.stderr()
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
        assert code in (0, 130), (code, err)
