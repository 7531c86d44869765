"""Every bad request to ``rnngen serve`` gets OpenAI's JSON error with the right status (400,
401, 404, 405, 413, 429), plain HTTP; the server stays up through all of them."""

from __future__ import annotations

import json
import socket

import pytest
from helpers.server import ServerProcess, half_sent

LIMITS = ("--max-tokens", "50", "--max-n", "4", "--max-prompt-chars", "30", "--max-body-bytes", "2000")


@pytest.fixture(scope="module")
def server(char_ckpt):
    with ServerProcess(char_ckpt, args=LIMITS) as process:
        yield process
        assert process.stop() == 0


def refused(answer: tuple[int, dict], status: int, words: str) -> None:
    code, body = answer
    assert code == status, body
    error = body["error"]
    assert set(error) >= {"message", "type", "code"} and isinstance(error["message"], str)
    assert words in error["message"], error["message"]
    assert "Traceback" not in error["message"]


def ask(server, **fields) -> tuple[int, dict]:
    return server.call("POST", "/v1/completions", {"model": "char", "prompt": "All:", **fields})


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"temperature": "hot"}, "temperature must be a number"),
        ({"temperature": -1}, "temperature must be 0 or more"),
        ({"top_p": 0}, "top_p must be more than 0"),
        ({"top_k": -3}, "top_k must be from 0"),
        ({"top_k": 2.5}, "top_k must be an integer"),
        ({"n": 5}, "n must be from 1 to 4"),
        ({"n": 3, "prompt": ["a", "b"]}, "n x the number of prompts must be at most 4"),
        ({"max_tokens": 51}, "max_tokens must be from 0 to 50"),
        ({"max_tokens": True}, "max_tokens must be an integer"),
        ({"prompt": "a" * 31}, "at most 30 characters"),
        ({"prompt": [1, 2, 3]}, "prompt must be a string or a non-empty list of strings"),
        ({"prompt": None}, "prompt is required"),
        ({"model": 7}, "model is required"),
        ({"stop": ""}, "a stop text must not be empty"),
        ({"stop": [1]}, "stop must be a string or a list of strings"),
        ({"seed": "x"}, "seed must be an integer"),
        ({"stream": "yes"}, "stream must be true or false"),
        ({"stream_options": {"include_usage": True}}, "stream_options needs stream: true"),
        ({"logprobs": 5}, "logprobs is not supported"),
        ({"echo": True}, "echo is not supported"),
        ({"best_of": 3}, "best_of is not supported"),
        ({"frobnicate": 1}, "unknown field(s): frobnicate"),
        ({"prompt": "Ω€"}, "never seen"),  # a character the char model lacks
    ],
)
def test_bad_fields_are_400(server, fields, words):
    refused(ask(server, **fields), 400, words)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"[" * 990 + b"]" * 990, "JSON"),  # deep nesting: refused either way, never a crash
        (b'{"model": "char", "prompt": "a", "max_tokens": 1e999}', "max_tokens must be an integer"),
        (b'{"model": "char", "prompt": "a", "temperature": NaN}', "temperature must be a finite number"),
    ],
)
def test_bad_bodies_are_400(server, body, words):
    refused(server.call("POST", "/v1/completions", body), 400, words)


def test_unknown_model_and_path_are_404_wrong_method_405(server):
    refused(ask(server, model="nope"), 404, "no model 'nope'")
    refused(server.call("GET", "/v2/everything"), 404, "no route GET /v2/everything")
    refused(server.call("GET", "/v1/completions"), 405, "no route GET /v1/completions")


def test_body_too_large_is_413_declared_or_chunked(server):
    refused(ask(server, user="x" * 3000), 413, "at most 2000 bytes")
    # No Content-Length: the body streams in chunks until it passes the limit.
    conn = server.connection()
    body = json.dumps({"model": "char", "prompt": "a", "user": "y" * 5000}).encode()
    conn.request("POST", "/v1/completions", body=iter([body[:1000], body[1000:]]), encode_chunked=True)
    response = conn.getresponse()
    refused((response.status, json.loads(response.read())), 413, "at most 2000 bytes")


def test_server_survives_a_client_that_vanishes_mid_stream(server):
    raw = json.dumps({"model": "char", "prompt": "All:", "max_tokens": 50, "n": 4, "stream": True}).encode()
    with socket.create_connection((server.host, server.port)) as sock:
        sock.sendall(
            b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(raw)).encode() + b"\r\n\r\n" + raw
        )
        assert sock.recv(10).startswith(b"HTTP/1.1")
    status, body = ask(server, max_tokens=5)
    assert status == 200 and len(body["choices"][0]["text"]) == 5


def test_still_healthy_after_all_of_it(server):
    assert server.health()["status"] == "ok"
    assert server.proc.poll() is None


def test_api_key_required_when_set_401(char_ckpt):
    with ServerProcess(char_ckpt, args=("--api-key", "s3cret")) as server:
        refused(server.call("GET", "/v1/models"), 401, "API key")
        refused(ask(server), 401, "API key")
        wrong = {"Authorization": "Bearer s3cre"}
        refused(server.call("POST", "/v1/completions", {"model": "char", "prompt": "a"}, wrong), 401, "API key")
        refused(server.call("GET", "/v1/models", headers={"Authorization": "s3cret"}), 401, "API key")
        status, body = server.call("GET", "/v1/models", headers={"Authorization": "Bearer s3cret"})
        assert status == 200 and body["data"][0]["id"] == "char"
        assert server.call("GET", "/health")[0] == 200  # liveness needs no key
        assert server.stop() == 0


def test_api_key_from_the_environment(char_ckpt):
    with ServerProcess(char_ckpt, env={"RNNGEN_API_KEY": "from-env"}) as server:
        refused(server.call("GET", "/v1/models"), 401, "API key")
        assert server.call("GET", "/v1/models", headers={"Authorization": "Bearer from-env"})[0] == 200
        assert server.stop() == 0


def test_too_many_concurrent_requests_is_429(char_ckpt):
    with ServerProcess(char_ckpt, args=("--max-concurrent", "1")) as server:
        conn, finish = half_sent(server, {"model": "char", "prompt": "All:", "max_tokens": 5})
        server.wait_in_flight(1)
        refused(ask(server), 429, "too many requests at once")
        status, body = finish()
        assert status == 200 and len(body["choices"][0]["text"]) == 5
        conn.close()
        server.wait_in_flight(0)
        assert ask(server, max_tokens=3)[0] == 200
        assert server.stop() == 0
