"""Hugging Face-style model folders: readable by the standard tools, read back by rnngen,
and a model card whose numbers are the checkpoint's and whose checkpoint text stays plain."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
import yaml
from helpers.model_folders import HISTORY, LEVELS, export_folder, make_checkpoint
from markdown_it import MarkdownIt
from safetensors import safe_open
from safetensors.torch import load_file

import rnngen
from rnngen.checkpoint import Checkpoint, is_rnngen_checkpoint, load_checkpoint
from rnngen.hf_export import export_hf
from rnngen.model_card import CardSample, code_block, code_span, model_card
from rnngen.tui.checkpoints import open_checkpoint


@pytest.mark.parametrize("level", LEVELS)
def test_folder_loads_with_safetensors_json_and_tokenizers(tmp_path, level):
    ckpt = make_checkpoint(tmp_path / "m.safetensors", level)
    folder = export_folder(ckpt, tmp_path / "hf")
    original = load_checkpoint(ckpt)
    weights = load_file(str(folder / "model.safetensors"))
    for name, tensor in original.model_state().items():
        assert torch.equal(weights[name], tensor), name
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        assert f.metadata()["format"] == "pt"
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    m = original.model_config
    assert (config["cell"], config["layers"], config["hidden"], config["embed"], config["tie"]) == (
        m.cell, m.layers, m.hidden, m.embed, m.tie,
    )  # fmt: skip
    assert config["vocab_size"] == m.vocab_size and config["level"] == level
    assert config["model_type"] == "rnngen" and config["format_version"] == 1 and config["rnngen_version"]
    if level == "bpe":
        import tokenizers

        assert config["tokenizer_file"] == "tokenizer.json"
        hf = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
        text = "Speak, speak: you know Caius Marcius? ünïcödé 你好"
        assert hf.encode(text).ids == original.tokenizer.encode(text).tolist()
    else:
        assert config["tokenizer_file"] == "vocab.json"
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        assert vocab == {token: i for i, token in enumerate(original.tokenizer.vocab)}
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["model.safetensors", "config.json", config["tokenizer_file"], "README.md"]
    )


@pytest.mark.parametrize(
    ("level", "cell", "tie"), [("char", "lstm", False), ("word", "gru", True), ("bpe", "rnn", False)]
)
def test_folder_round_trips_through_rnngen_load(tmp_path, level, cell, tie):
    ckpt = make_checkpoint(tmp_path / "m.safetensors", level, cell, tie=tie)
    folder = export_folder(ckpt, tmp_path / "hf")
    a, b = rnngen.load(ckpt), rnngen.load(folder)
    assert b.path == folder and b.tokenizer.vocab == a.tokenizer.vocab and b.config == a.config
    for (name, x), (_, y) in zip(a.net.state_dict().items(), b.net.state_dict().items()):
        assert torch.equal(x, y), name
    assert b.history == a.history == HISTORY
    assert b.sample(length=40, temp=0.9, seed=7) == a.sample(length=40, temp=0.9, seed=7)
    assert is_rnngen_checkpoint(folder)
    assert open_checkpoint(folder).tokenizer.vocab == a.tokenizer.vocab  # the TUI's loader


def test_model_card_holds_the_checkpoints_numbers(tmp_path, char_ckpt):
    folder = export_folder(char_ckpt, tmp_path / "card")
    card = (folder / "README.md").read_text(encoding="utf-8")
    loaded = load_checkpoint(char_ckpt)
    best = min((r for r in loaded.train["history"] if r["val_loss"] is not None), key=lambda r: r["val_loss"])
    assert card.startswith("---\nlibrary_name: rnngen\n")
    assert f"validation loss **{best['val_loss']:.4f}** nats/token" in card
    assert f"perplexity **{math.exp(best['val_loss']):.3f}**" in card
    # Bits per character: at char level nats/token / ln 2, as training recorded it.
    assert abs(best["val_bpc"] - best["val_loss"] / math.log(2)) < 1e-3
    assert f"**{best['val_bpc']:.4f}** bits per character" in card
    assert f"{loaded.build_model().num_parameters():,} parameters" in card
    assert f"{loaded.train['step']} steps, {loaded.train['tokens_seen']:,} tokens seen" in card
    assert "`english.txt`" in card  # the corpus the checkpoint records, by file name
    for row in loaded.train["history"][-3:]:
        assert f"| {row['step']} | {row['train_loss']:.4f} | {row['val_loss']:.4f} |" in card
    assert "## Intended use and limits" in card and "licence" in card.lower()


def test_model_card_sample_is_what_the_command_it_names_prints(tmp_path, char_ckpt):
    from helpers.cli import run_cli

    folder = export_folder(char_ckpt, tmp_path / "card")
    card = (folder / "README.md").read_text(encoding="utf-8")
    command = re.search(r"Generated at export with `rnngen sample card ([^`]*)`", card).group(1)
    shown = re.search(r"```text\n(.*?)\n```", card, re.S).group(1)
    printed = run_cli("sample", folder, *command.split()).stdout
    assert printed.rstrip("\n") == shown


HOSTILE = "a``b</code><script>alert(1)</script>\n# heading\x1b[31m\u202e| x |\n```\n---"


def _outside_code(card: str) -> list[str]:
    """The text of every Markdown token that is not code (and every HTML token's raw text)."""
    found = []
    for token in MarkdownIt("commonmark").enable("table").parse(card):
        if token.type in ("fence", "code_block", "html_block"):
            found.append(token.content if token.type == "html_block" else "")
        for child in token.children or []:
            if child.type != "code_inline":
                found.append(child.content)
    return found


def test_checkpoint_text_in_the_model_card_stays_plain(tmp_path):
    ckpt = make_checkpoint(tmp_path / "m.safetensors")
    loaded = load_checkpoint(ckpt)
    loaded.train.update(
        corpus={"sources": [f"/x/{HOSTILE}.txt"], "chars": 10, "sha256": HOSTILE},
        plan={"summary": HOSTILE},
        parent={"path": HOSTILE, "sha256": HOSTILE, "steps": 3},
    )
    loaded.train["config"]["precision"] = HOSTILE
    card = model_card(loaded, source=HOSTILE, folder_name=HOSTILE, parameters=10, sample=CardSample(HOSTILE, 0.8, 1, 5))
    assert card.startswith("---\nlibrary_name: rnngen\n")
    front = yaml.safe_load(card.split("\n---\n", 1)[0].removeprefix("---\n"))
    assert front == {
        "library_name": "rnngen", "pipeline_tag": "text-generation", "license": "other",
        "tags": ["rnngen", "lstm", "char-level", "text-generation"],
    }  # fmt: skip
    outside = "".join(_outside_code(card))
    for piece in ("<script>", "</code>", "# heading", "\x1b", "\u202e"):
        assert piece not in outside, piece
    assert "\x1b" not in card and "\u202e" not in card  # shown as \u001b, \u202e everywhere
    assert not any(t.type.startswith("html") for t in MarkdownIt("commonmark").parse(card))
    tokens = MarkdownIt("commonmark").parse(card)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == [
        "LSTM 2x16, char level (rnngen)", "Use", "Training data", "Size", "Training", "Evaluation", "Sample",
        "Intended use and limits", "Licence",
    ]  # fmt: skip


@pytest.mark.parametrize("text", ["`", "``", "a`b", "```", "x\ny", " ", "  ", " a ", " a", "<b>", "`a`", ""])
def test_code_span_and_block_round_trip_through_markdown(text):
    md = MarkdownIt("commonmark")
    inline = [c for t in md.parse(f"see {code_span(text)} here") for c in t.children or []]
    expected = text.replace("\n", "\\u000a") or " "  # an empty text shows as one space
    assert [c.content for c in inline if c.type == "code_inline"] == [expected]
    fence = [t for t in md.parse(code_block(text + "\n```\n````")) if t.type == "fence"]
    assert len(fence) == 1 and fence[0].content == text + "\n```\n````\n"


def test_export_refuses_a_folder_that_holds_anything(tmp_path):
    from rnngen.errors import RnngenError

    ckpt = make_checkpoint(tmp_path / "m.safetensors")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RnngenError, match="not empty"):
        export_hf(load_checkpoint(ckpt), out, source="m.safetensors")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "out"]  # no temporary folder
    empty = tmp_path / "empty"
    empty.mkdir()
    export_hf(load_checkpoint(ckpt), empty, source="m.safetensors")
    assert isinstance(load_checkpoint(empty), Checkpoint)
