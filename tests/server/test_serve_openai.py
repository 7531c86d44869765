"""``rnngen serve`` answers the official ``openai`` client: plain and streamed completions, the
model list, seeds, temperature 0 equal to ``rnngen sample``, stop texts, several prompts."""

from __future__ import annotations

import pytest
from helpers.cli import run_cli
from helpers.server import ServerProcess
from openai import OpenAI


@pytest.fixture(scope="module")
def server(char_ckpt, word_ckpt, talking_ckpt):
    with ServerProcess(char_ckpt, word_ckpt, talking_ckpt) as process:
        yield process
        assert process.stop() == 0


@pytest.fixture(scope="module")
def client(server):
    return OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def greedy_cli(ckpt, prime: str, length: int, *more: str) -> str:
    """What ``rnngen sample`` prints after the prime (one sample, its closing newline dropped)."""
    output = run_cli("sample", ckpt, "--prime", prime, "--length", str(length), *more).output
    assert output.startswith(prime) and output.endswith("\n")
    return output[len(prime) : -1]


def test_startup_line_names_the_url_and_models(server):
    assert server.first_line.startswith("rnngen serve: http://127.0.0.1:")
    assert "models: char, word, talking" in server.first_line


def test_models_lists_each_checkpoint_by_file_stem(client):
    assert sorted(m.id for m in client.models.list()) == ["char", "talking", "word"]


def test_plain_completion_has_openai_shape(client):
    answer = client.completions.create(model="char", prompt="All:", max_tokens=20)
    assert answer.object == "text_completion" and answer.id.startswith("cmpl-") and answer.model == "char"
    (choice,) = answer.choices
    assert len(choice.text) == 20  # char level: one character per token
    assert choice.finish_reason == "length" and choice.index == 0 and choice.logprobs is None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (4, 20, 24)


def test_stream_sends_a_chunk_per_token_then_done(client, server):
    chunks = list(client.completions.create(model="char", prompt="All:", max_tokens=25, seed=5, stream=True))
    texts = [c.choices[0].text for c in chunks if c.choices[0].text]
    assert len(texts) == 25 and all(len(t) == 1 for t in texts)
    assert chunks[-1].choices[0].finish_reason == "length"
    whole = client.completions.create(model="char", prompt="All:", max_tokens=25, seed=5)
    assert "".join(texts) == whole.choices[0].text
    # The raw stream ends with data: [DONE].
    conn = server.connection()
    conn.request("POST", "/v1/completions", body=b'{"model": "char", "prompt": "a", "max_tokens": 3, "stream": true}')
    raw = conn.getresponse().read().decode()
    assert raw.endswith("data: [DONE]\n\n") and raw.count("data: ") == 3 + 1 + 1


def test_stream_usage_when_asked(client):
    chunks = list(
        client.completions.create(
            model="char", prompt="All:", max_tokens=7, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 7


def test_same_seed_same_text_and_equal_to_rnngen_sample(client, char_ckpt):
    ask = dict(model="char", prompt="First", max_tokens=40, temperature=0.9, extra_body={"top_k": 5})
    first = client.completions.create(seed=11, **ask)
    again = client.completions.create(seed=11, **ask)
    other = client.completions.create(seed=12, **ask)
    assert first.choices[0].text == again.choices[0].text != other.choices[0].text
    cli = greedy_cli(char_ckpt, "First", 40, "--seed", "11", "--temp", "0.9", "--top-k", "5")
    assert first.choices[0].text == cli


def test_temperature_0_equals_rnngen_sample_temp_0(client, talking_ckpt, word_ckpt):
    for prompt in ("All:", "you k"):
        answer = client.completions.create(model="talking", prompt=prompt, max_tokens=60, temperature=0)
        assert answer.choices[0].text == greedy_cli(talking_ckpt, prompt, 60, "--temp", "0")
    answer = client.completions.create(model="word", prompt="First Citizen", max_tokens=15, temperature=0)
    assert answer.choices[0].text == greedy_cli(word_ckpt, "First Citizen", 15, "--temp", "0")


def test_stop_cuts_before_the_stop_plain_and_streamed(client, talking_ckpt):
    greedy = greedy_cli(talking_ckpt, "All:", 80, "--temp", "0")
    stop = greedy[12:14]
    expected = greedy[: greedy.find(stop)]
    answer = client.completions.create(model="talking", prompt="All:", max_tokens=80, temperature=0, stop=[stop, "@@"])
    assert answer.choices[0].text == expected and answer.choices[0].finish_reason == "stop"
    assert answer.usage.completion_tokens == len(expected) + len(stop)  # the stop's tokens were made, not shown
    chunks = list(
        client.completions.create(model="talking", prompt="All:", max_tokens=80, temperature=0, stop=stop, stream=True)
    )
    assert "".join(c.choices[0].text for c in chunks) == expected
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_n_choices_and_several_prompts(client):
    answer = client.completions.create(model="char", prompt=["All:", "First"], max_tokens=10, n=3)
    assert [c.index for c in answer.choices] == list(range(6))
    assert all(len(c.text) == 10 and c.finish_reason == "length" for c in answer.choices)
    assert answer.usage.prompt_tokens == 4 + 5  # each prompt counted once, as OpenAI does
    words = client.completions.create(model="word", prompt="Speak", max_tokens=6, n=2)
    assert len(words.choices) == 2 and all(c.finish_reason == "length" for c in words.choices)


def test_max_tokens_0_and_empty_prompt(client):
    answer = client.completions.create(model="char", prompt="", max_tokens=0)
    assert answer.choices[0].text == "" and answer.choices[0].finish_reason == "length"
    answer = client.completions.create(model="char", prompt="", max_tokens=5)
    assert len(answer.choices[0].text) == 5 and answer.usage.prompt_tokens == 0
