"""Issue 13, `rnngen sample`: --stop, --prime-file, --repetition-penalty, --beam (and their bad values)."""

import math

import pytest
from helpers.cli import run_cli

SEP = "\n\n" + "-" * 40 + "\n"  # each sample ends with a line break, then the rule


def _sample(ckpt, *args: str) -> str:
    return run_cli("sample", ckpt, "--threads", "1", *args).stdout


def _samples(ckpt, *args: str) -> list[str]:
    out = _sample(ckpt, *args)
    assert out.endswith("\n")
    return out[:-1].split(SEP)


def test_stop_cuts_each_sample_at_its_own_stop(char_ckpt):
    base = ["--length", "120", "--seed", "5", "--temp", "1", "--num", "4"]
    full = _samples(char_ckpt, *base)
    cut = _samples(char_ckpt, *base, "--stop", "e", "--stop", "\n\n")
    kept = _samples(char_ckpt, *base, "--stop", "e", "--stop", "\n\n", "--stop-keep")
    stopped = 0
    for f, c, k in zip(full, cut, kept):
        hits = [(f.find(s), s) for s in ("e", "\n\n") if s in f]
        if not hits:
            assert c == f == k
            continue
        at, stop = min(hits)
        assert c == f[:at] and k == f[: at + len(stop)]
        stopped += 1
    assert stopped >= 2
    assert len({len(c) for c in cut}) > 1  # each stopped on its own


def test_stop_streams_a_single_sample_up_to_the_stop(char_ckpt):
    full = _sample(char_ckpt, "--length", "200", "--seed", "2", "--temp", "1", "--prime", "All:")
    generated = full[len("All:") : -1]
    assert "e" in generated
    cut = _sample(char_ckpt, "--length", "200", "--seed", "2", "--temp", "1", "--prime", "All:", "--stop", "e")
    assert cut == "All:" + generated[: generated.index("e")] + "\n"


def test_prime_file_is_the_prime(char_ckpt, tmp_path):
    prime = "First Citizen:\nBefore we proceed\n"
    (tmp_path / "p.txt").write_text(prime)
    by_file = _sample(char_ckpt, "--prime-file", tmp_path / "p.txt", "--length", "30", "--seed", "1")
    assert by_file.startswith(prime)
    assert by_file == _sample(char_ckpt, "--prime", prime, "--length", "30", "--seed", "1")


def test_repetition_penalty_changes_greedy_text(char_ckpt):
    greedy = _sample(char_ckpt, "--temp", "0", "--length", "80")
    penalised = _sample(
        char_ckpt, "--temp", "0", "--length", "80", "--repetition-penalty", "2", "--penalty-window", "8"
    )
    assert penalised != greedy and len(penalised) == len(greedy)


def test_beam_gives_the_n_best_beams_deterministically(char_ckpt):
    a = _samples(char_ckpt, "--beam", "4", "--num", "3", "--length", "30", "--prime", "All")
    b = _samples(char_ckpt, "--beam", "4", "--num", "3", "--length", "30", "--prime", "All", "--seed", "9")
    assert a == b and len(a) == 3 and len(set(a)) == 3
    assert all(s.startswith("All") for s in a)
    one = _samples(char_ckpt, "--beam", "1", "--length", "30", "--prime", "All")
    assert one == _samples(char_ckpt, "--temp", "0", "--length", "30", "--prime", "All")


@pytest.mark.parametrize(
    "args, match",
    [
        (["--stop", ""], "--stop"),
        (["--stop-keep"], "--stop-keep needs --stop"),
        (["--beam", "0"], "--beam"),
        (["--beam", "-2"], "--beam"),
        (["--beam", "2", "--num", "3"], "--num"),
        (["--beam", "2", "--temp", "0.5"], "--temp"),
        (["--beam", "2", "--top-k", "3"], "--top-k"),
        (["--repetition-penalty", "0"], "--repetition-penalty"),
        (["--repetition-penalty", "-1.5"], "--repetition-penalty"),
        (["--repetition-penalty", "nan"], "--repetition-penalty"),
        (["--repetition-penalty", "1.2", "--penalty-window", "0"], "--penalty-window"),
        (["--penalty-window", "8"], "needs --repetition-penalty"),
        (["--prime-file", "{d}/missing.txt"], "missing.txt"),
        (["--prime-file", "{d}/binary.bin"], "binary"),
        (["--prime-file", "{d}/latin1.txt"], "UTF-8"),
        (["--prime-file", "{d}/empty.txt"], "empty"),
        (["--prime-file", "{d}"], "folder"),
        (["--prime-file", "{d}/ok.txt", "--prime", "x"], "not both"),
        (["--format", "xml"], "--format"),
        (["--quiet"], "--quiet needs --out"),
        (["--out", "{d}/no/such/folder.txt"], "does not exist"),
        (["--out", "{d}/ok.txt/"], "not a folder"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(char_ckpt, tmp_path, args, match):
    (tmp_path / "binary.bin").write_bytes(bytes(range(256)) * 20)
    (tmp_path / "latin1.txt").write_bytes("café crème\n".encode("latin-1"))
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "ok.txt").write_text("All:\n")
    result = run_cli("sample", char_ckpt, *[a.format(d=tmp_path) for a in args], ok=False)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and match in lines[0], result.stderr
    assert result.stdout == ""


def test_jsonl_records_parse_and_match_the_model(char_ckpt):
    import json

    import torch

    from rnngen.checkpoint import load_checkpoint
    from rnngen.sampling import SamplingConfig, next_token_probs

    out = _sample(char_ckpt, "--format", "jsonl", "--num", "3", "--length", "40", "--seed", "4", "--prime", "All",
                  "--stop", "\n\n", "--temp", "0.9")  # fmt: skip
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["index"] for r in records] == [0, 1, 2]
    loaded = load_checkpoint(char_ckpt, with_training_state=False)
    model, tok = loaded.build_model().eval(), loaded.tokenizer
    for r in records:
        assert r["seed"] == 4 and r["settings"]["temp"] == 0.9 and r["settings"]["stop"] == ["\n\n"]
        assert r["text"].startswith("All")
        ids = tok.encode(r["text"]).tolist()
        tokens = r["tokens"]
        assert [t["id"] for t in tokens][: len(ids) - 3] == ids[3:]
        with torch.no_grad():
            logits, _ = model(torch.tensor([ids[:3] + [t["id"] for t in tokens]]))
        probs = next_token_probs(logits[0], SamplingConfig(temperature=1.0))
        for k, t in enumerate(tokens):
            p = probs[2 + k]
            assert t["prob"] == pytest.approx(float(p[t["id"]]), abs=1e-5)
            assert t["entropy_nats"] == pytest.approx(float(-(p * p.log()).sum()), abs=1e-4)
    again = [json.loads(line) for line in _sample(char_ckpt, "--format", "jsonl", "--num", "3", "--length", "40",
             "--seed", "4", "--prime", "All", "--stop", "\n\n", "--temp", "0.9").splitlines()]  # fmt: skip
    assert again == records


def test_jsonl_without_a_seed_records_one_that_repeats_it(char_ckpt):
    import json

    first = json.loads(_sample(char_ckpt, "--format", "jsonl", "--length", "30"))
    again = json.loads(_sample(char_ckpt, "--format", "jsonl", "--length", "30", "--seed", str(first["seed"])))
    assert again["text"] == first["text"]


def test_jsonl_for_beams_gives_their_scores(char_ckpt):
    import json

    records = [json.loads(x) for x in _sample(char_ckpt, "--format", "jsonl", "--beam", "3", "--num", "2",
                                               "--length", "20").splitlines()]  # fmt: skip
    assert len(records) == 2 and records[0]["settings"]["beam"] == 3 and records[0]["settings"]["temp"] is None
    for r in records:
        mean = sum(math.log(t["prob"]) for t in r["tokens"]) / len(r["tokens"])
        assert r["mean_logprob_nats"] == pytest.approx(mean, abs=1e-4)
    assert records[0]["mean_logprob_nats"] >= records[1]["mean_logprob_nats"]


def test_out_writes_one_file_with_rules_and_still_shows_the_samples(char_ckpt, tmp_path):
    target = tmp_path / "s.txt"
    shown = _samples(char_ckpt, "--num", "3", "--length", "20", "--seed", "2", "--out", target)
    assert target.read_text() == "\n---\n".join(shown) + "\n"
    assert [p.name for p in tmp_path.iterdir()] == ["s.txt"]  # no temporary file left


def test_out_folder_gets_one_file_per_sample_named_by_the_seed(char_ckpt, tmp_path):
    folder = tmp_path / "new"
    out = _sample(char_ckpt, "--num", "2", "--length", "20", "--seed", "7", "--out", f"{folder}/", "--quiet")
    assert out == ""
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["sample-seed7-1.txt", "sample-seed7-2.txt"]
    shown = _samples(char_ckpt, "--num", "2", "--length", "20", "--seed", "7")
    assert [(folder / n).read_text() for n in names] == [s + "\n" for s in shown]
    # An existing folder needs no trailing slash; without --seed the chosen seed is in the name.
    _sample(char_ckpt, "--num", "1", "--length", "5", "--out", folder, "--format", "jsonl", "-q")
    (jsonl,) = [p for p in folder.iterdir() if p.suffix == ".jsonl"]
    import json

    seed = json.loads(jsonl.read_text())["seed"]
    assert jsonl.name == f"sample-seed{seed}-1.jsonl"


@pytest.mark.parametrize("existing", ["file", "sample-file", "symlink"])
def test_out_never_overwrites(char_ckpt, tmp_path, existing):
    target = tmp_path / "s.txt"
    if existing == "symlink":
        (tmp_path / "precious.txt").write_text("precious")
        target.symlink_to(tmp_path / "precious.txt")
    else:
        _sample(char_ckpt, "--length", "5", "--out", target) if existing == "sample-file" else target.write_text("mine")
    before = target.read_text()
    result = run_cli("sample", char_ckpt, "--length", "5", "--out", target, ok=False)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error:") and "never overwrites" in result.stderr
    assert target.read_text() == before
    folder_file = tmp_path / "d" / "sample-seed3-2.txt"
    folder_file.parent.mkdir()
    folder_file.write_text("mine")
    result = run_cli(
        "sample", char_ckpt, "--length", "5", "--num", "2", "--seed", "3", "--out", folder_file.parent, ok=False
    )
    assert result.exit_code == 2 and folder_file.read_text() == "mine"
    assert sorted(p.name for p in folder_file.parent.iterdir()) == ["sample-seed3-2.txt"]  # nothing half-written


COLOUR_ARGS = ["--length", "40", "--seed", "6", "--prime", "All", "--stop", "\n\n", "--temp", "1"]


def _painted_chars(shown: bytes) -> list[tuple[str, int | None]]:
    """(character, 256-colour code or None) for each character of a coloured sample."""
    import re

    chars: list[tuple[str, int | None]] = []
    for m in re.finditer(r"\x1b\[38;5;(\d+)m(.*?)\x1b\[0m|([^\x1b])", shown.decode(), re.S):
        if m.group(3) is not None:
            chars.append((m.group(3), None))
        else:
            chars.extend((c, int(m.group(1))) for c in m.group(2))
    return chars


def test_color_shades_each_token_by_its_probability_on_a_terminal(char_ckpt, monkeypatch):
    import json

    from helpers.terminal import run_on_terminal

    from rnngen.cli.sampling import shade_code

    monkeypatch.delenv("NO_COLOR", raising=False)
    code, shown = run_on_terminal("sample", char_ckpt, *COLOUR_ARGS, "--color", "--threads", "1")
    assert code == 0 and b"\x1b[38;5;" in shown
    record = json.loads(_sample(char_ckpt, *COLOUR_ARGS, "--format", "jsonl"))
    expected = [(c, None) for c in "All"]
    for token in record["tokens"]:
        expected.extend((c, shade_code(token["prob"])) for c in token["token"])
    painted = _painted_chars(shown)
    assert "".join(c for c, _ in painted) == record["text"] + "\n"
    assert painted[:-1] == expected[: len(record["text"])]
    assert {code for _, code in painted} - {None}  # some token is shaded


def test_no_color_when_piped_or_with_no_color(char_ckpt, monkeypatch):
    from helpers.terminal import run_on_terminal

    monkeypatch.delenv("NO_COLOR", raising=False)
    piped = _sample(char_ckpt, *COLOUR_ARGS, "--color")
    assert "\x1b" not in piped
    monkeypatch.setenv("NO_COLOR", "1")
    code, shown = run_on_terminal("sample", char_ckpt, *COLOUR_ARGS, "--color", "--threads", "1")
    assert code == 0 and b"\x1b" not in shown
    assert shown.decode() == piped  # the same sample, plain


def test_color_on_a_terminal_for_several_samples_and_beams(char_ckpt, monkeypatch):
    from helpers.terminal import run_on_terminal

    monkeypatch.delenv("NO_COLOR", raising=False)
    for extra in (["--num", "3", "--temp", "1", "--seed", "2"], ["--beam", "2", "--num", "2"]):
        code, shown = run_on_terminal("sample", char_ckpt, "--length", "20", "--color", *extra)
        assert code == 0 and shown.count(b"\x1b[0m") >= 10
