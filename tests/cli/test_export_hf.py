"""rnngen export --format hf, and every command that takes a checkpoint taking the folder."""

from __future__ import annotations

import json
import os

import pytest
from helpers.cli import TINY, run_cli
from helpers.errors import assert_clean_failure, snapshot
from helpers.model_folders import CELLS, LEVELS, export_folder, make_checkpoint

from rnngen.checkpoint import load_checkpoint


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("cell", CELLS)
def test_folder_samples_the_same_text_as_its_checkpoint(tmp_path, level, cell):
    ckpt = make_checkpoint(tmp_path / "m.safetensors", level, cell)
    result = run_cli("export", ckpt, "--format", "hf", tmp_path / "hf")
    assert result.stdout.startswith(f"{tmp_path / 'hf'}: model.safetensors, config.json")
    for args in (["--temp", "0", "--length", "60"], ["--temp", "1.2", "--seed", "4", "--num", "2", "--prime", "Sp"]):
        expected = run_cli("sample", ckpt, *args).stdout
        assert run_cli("sample", tmp_path / "hf", *args).stdout == expected


def test_every_command_that_takes_a_checkpoint_takes_the_folder(tmp_path, char_ckpt, english_corpus):
    folder = export_folder(char_ckpt, tmp_path / "hf")
    info = json.loads(run_cli("info", folder, "--json").stdout)
    original = json.loads(run_cli("info", char_ckpt, "--json").stdout)
    assert info["path"] == str(folder) and not info["resumable"] and info["format"] == 3
    for key in ("model", "parameters", "step", "history", "best_val_loss", "train_config"):
        assert info[key] == original[key], key
    assert (
        run_cli("eval", folder, english_corpus, "--json").stdout
        == run_cli("eval", char_ckpt, english_corpus, "--json").stdout
    )
    inspected = json.loads(run_cli("inspect", folder, "--text", "First Citizen", "--json").stdout)
    assert inspected["tokens"] == list("First Citizen")
    units = [json.loads(run_cli("units", c, english_corpus, "--json").stdout) for c in (folder, char_ckpt)]
    assert units[0].pop("checkpoint") == str(folder)
    assert units[0] == {k: v for k, v in units[1].items() if k != "checkpoint"}
    assert json.loads(run_cli("novelty", folder, english_corpus, "--seed", "1", "--length", "50", "--json").stdout)
    run_cli("export", folder, "--format", "onnx", tmp_path / "m.onnx")
    assert (tmp_path / "m.onnx").stat().st_size > 0
    run_cli("export", folder, "--format", "hf", tmp_path / "again")  # a folder exports to a folder
    child = tmp_path / "child.safetensors"
    run_cli("train", english_corpus, "--init-from", folder, "--steps", "2", "--out", child, "--threads", "1")
    parent = load_checkpoint(child).train["parent"]
    assert parent["path"] == str(folder) and parent["steps"] == load_checkpoint(char_ckpt).train["step"]


def test_resume_from_a_folder_is_refused_in_one_line(tmp_path, char_ckpt, english_corpus):
    folder = export_folder(char_ckpt, tmp_path / "hf")
    before = snapshot(tmp_path)
    result = run_cli("train", english_corpus, "--resume", folder, "--steps", "40", *TINY, ok=False)
    assert_clean_failure(result, "exported model folder (weights only, no optimizer state)")
    assert "--init-from" in result.stderr
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("taken", ["file", "folder", "symlink"])
def test_a_taken_out_is_refused_and_left_untouched(tmp_path, char_ckpt, taken):
    out = tmp_path / "out"
    if taken == "file":
        out.write_text("my notes")
    elif taken == "folder":
        out.mkdir()
        (out / "README.md").write_text("my own card")
    else:
        (tmp_path / "elsewhere").mkdir()
        os.symlink(tmp_path / "elsewhere", out)
    before = snapshot(tmp_path)
    result = run_cli("export", char_ckpt, "--format", "hf", out, ok=False)
    assert_clean_failure(result, "refusing to overwrite" if taken != "folder" else "is not empty")
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out"] + (["elsewhere"] if taken == "symlink" else []))


def test_an_empty_out_folder_is_used(tmp_path, char_ckpt):
    (tmp_path / "out").mkdir()
    run_cli("export", char_ckpt, "--format", "hf", tmp_path / "out")
    assert load_checkpoint(tmp_path / "out").model_config == load_checkpoint(char_ckpt).model_config


def test_lstmvis_options_are_refused_with_hf(tmp_path, char_ckpt, english_corpus):
    result = run_cli("export", char_ckpt, "--format", "hf", tmp_path / "o", "--text-file", english_corpus, ok=False)
    assert_clean_failure(result, "apply to --format lstmvis only")
    assert not (tmp_path / "o").exists()


def test_the_folder_tells_no_one_where_the_author_keeps_files(tmp_path, english_corpus):
    """A folder made to be shared keeps the corpus's name, size and checksum, not its path."""
    ckpt = tmp_path / "private" / "m.safetensors"
    run_cli("train", english_corpus, "--steps", "2", "--out", ckpt, *TINY)
    source = load_checkpoint(ckpt)
    assert str(english_corpus) in json.dumps(source.train)  # the private checkpoint keeps it
    run_cli("export", ckpt, "--format", "hf", tmp_path / "hf")
    published = load_checkpoint(tmp_path / "hf").train
    text = json.dumps(published) + (tmp_path / "hf" / "README.md").read_text()
    assert str(tmp_path) not in text and str(english_corpus.parent) not in text
    assert published["corpus"]["sources"] == [english_corpus.name]
    assert published["corpus"]["sha256"] == source.train["corpus"]["sha256"]
