"""Issue 16, item 4: a stranger's checkpoint, forged with a valid checksum, gets nothing in.

A BPE tokenizer is rebuilt from its vocabulary and merges only (padding, truncation,
normalizers, post-processors, dropout and added tokens are refused); deep nesting and
huge integers are one-line errors; ``info`` shows what is valid and marks the rest;
``train --resume`` validates the checkpoint's settings and progress as strictly as a
fresh run's.
"""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from helpers.checkpoints import edit_document, edit_metadata, join, split, write
from helpers.cli import ENGLISH, TINY, run_cli
from helpers.errors import assert_clean_failure

from rnngen.bpe import BPETokenizer
from rnngen.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from rnngen.errors import RnngenError
from rnngen.model import ModelConfig, RNNLanguageModel
from rnngen.tokenizers import CharTokenizer, tokenizer_from_json

# ---- a hostile BPE tokenizer -----------------------------------------------------------


@pytest.fixture(scope="module")
def bpe_bytes(tmp_path_factory) -> bytes:
    tok = BPETokenizer.fit(ENGLISH * 4, 300)
    config = ModelConfig(cell="gru", vocab_size=tok.vocab_size, embed=4, hidden=4, layers=1)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("bpe") / "bpe.safetensors"
    save_checkpoint(path, Checkpoint(config, tok, {"step": 1}, dict(RNNLanguageModel(config).state_dict())))
    return path.read_bytes()


def _hf_edit(edit):
    def change(doc: dict) -> None:
        edit(doc["hf"])

    return change


PADDING = {
    "strategy": {"Fixed": 300000},
    "direction": "Right",
    "pad_to_multiple_of": None,
    "pad_id": 0,
    "pad_type_id": 0,
    "pad_token": "!",
}
TRUNCATION = {"direction": "Right", "max_length": 1, "strategy": "LongestFirst", "stride": 0}
ADDED = {
    "id": 0,
    "content": "!",
    "single_word": False,
    "lstrip": False,
    "rstrip": False,
    "normalized": False,
    "special": True,
}
HOSTILE_HF = {
    "padding": (lambda hf: hf.update(padding=PADDING), "padding"),
    "truncation": (lambda hf: hf.update(truncation=TRUNCATION), "truncation"),
    "normalizer": (lambda hf: hf.update(normalizer={"type": "Lowercase"}), "normalizer"),
    "post_processor": (
        lambda hf: hf.update(
            post_processor={"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
        ),
        "post_processor",
    ),
    "dropout": (lambda hf: hf["model"].update(dropout=0.9), "dropout"),
    "added_tokens": (lambda hf: hf.update(added_tokens=[ADDED]), "added_tokens"),
    "split_regex": (
        lambda hf: hf.update(
            pre_tokenizer={"type": "Split", "pattern": {"Regex": "."}, "behavior": "Isolated", "invert": False}
        ),
        "pre_tokenizer",
    ),
    "prefix_space": (lambda hf: hf["pre_tokenizer"].update(add_prefix_space=True), "pre_tokenizer"),
    "no_regex": (lambda hf: hf["pre_tokenizer"].update(use_regex=False), "pre_tokenizer"),
    "decoder": (lambda hf: hf.update(decoder={"type": "Strip", "content": " ", "start": 1, "stop": 0}), "decoder"),
    "model_type": (lambda hf: hf["model"].update(type="WordPiece"), "model type"),
    "unk_token": (lambda hf: hf["model"].update(unk_token="!"), "unk_token"),
    "subword_prefix": (lambda hf: hf["model"].update(continuing_subword_prefix="##"), "continuing_subword_prefix"),
    "word_suffix": (lambda hf: hf["model"].update(end_of_word_suffix="</w>"), "end_of_word_suffix"),
    "byte_fallback": (lambda hf: hf["model"].update(byte_fallback=True), "byte_fallback"),
    "unknown_field": (lambda hf: hf.update(surprise={"a": 1}), "surprise"),
    "unknown_model_field": (lambda hf: hf["model"].update(surprise=1), "surprise"),
    "merge_of_unknown_tokens": (lambda hf: hf["model"]["merges"].append(["zz", "qq"]), "merge"),
    # Both parts known, their join not (on some such merges the library panics: a Rust backtrace).
    "merge_of_a_token_not_in_vocab": (lambda hf: hf["model"]["merges"].append(["#", "#"]), "merge"),
    "merge_not_a_pair": (lambda hf: hf["model"]["merges"].append([1, 2, 3]), "merge"),
    "vocab_not_a_dict": (lambda hf: hf["model"].update(vocab=[1, 2]), "vocab"),
    "no_model": (lambda hf: hf.pop("model"), "model"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_HF))
def test_a_bpe_tokenizer_is_rebuilt_from_vocabulary_and_merges_only(tmp_path, bpe_bytes, case):
    edit, named = HOSTILE_HF[case]
    path = write(tmp_path / "hostile.safetensors", edit_document(bpe_bytes, "rnngen.tokenizer", _hf_edit(edit)))
    with pytest.raises(RnngenError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert named in message and "\n" not in message, message


def test_a_padded_bpe_checkpoint_is_one_line_from_the_cli(tmp_path, bpe_bytes):
    path = write(
        tmp_path / "padded.safetensors",
        edit_document(bpe_bytes, "rnngen.tokenizer", _hf_edit(HOSTILE_HF["padding"][0])),
    )
    for command in (["sample", path, "--length", "5"], ["info", path]):
        assert_clean_failure(run_cli(*command, ok=False), "padding")


def _legacy(doc: dict) -> None:
    """The tokenizers releases before 0.20 wrote merges as "a b" strings and no ignore_merges."""
    model = doc["hf"]["model"]
    model["merges"] = [" ".join(pair) for pair in model["merges"]]
    model.pop("ignore_merges", None)


@pytest.mark.parametrize("edit", [None, _legacy], ids=["current", "legacy_merges"])
def test_rnngen_s_own_bpe_checkpoints_still_load_and_encode_the_same(tmp_path, bpe_bytes, edit):
    data = edit_document(bpe_bytes, "rnngen.tokenizer", edit) if edit else bpe_bytes
    loaded = load_checkpoint(write(tmp_path / "own.safetensors", data)).tokenizer
    original = tokenizer_from_json(json.loads(split(bpe_bytes)[0]["__metadata__"]["rnngen.tokenizer"]))
    text = ENGLISH + "unseen: 𝄞 ✓ Ω\x00  x"
    assert loaded.vocab == original.vocab
    assert loaded.encode(text).tolist() == original.hf.encode(text).ids
    assert loaded.decode(loaded.encode(text)) == text
    assert loaded.to_json()["hf"]["model"]["vocab"] == original.to_json()["hf"]["model"]["vocab"]


# ---- deep nesting and huge integers ------------------------------------------------------


@pytest.fixture(scope="module")
def char_bytes(tmp_path_factory) -> bytes:
    tok = CharTokenizer.fit("to be or not to be")
    config = ModelConfig(cell="lstm", vocab_size=tok.vocab_size, embed=4, hidden=4, layers=1)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("char") / "char.safetensors"
    save_checkpoint(path, Checkpoint(config, tok, {"step": 1}, dict(RNNLanguageModel(config).state_dict())))
    return path.read_bytes()


DEEP = "[" * 100_000 + "]" * 100_000
NESTED_50 = "[" * 50 + "]" * 50  # loads, but deeper than anything rnngen writes
HUGE = "1" * 5000


def _raw_header_with(data: bytes, extra: str) -> bytes:
    header, payload = split(data)
    raw = json.dumps(header).encode()
    return join(raw[:-1] + b', "extra": ' + extra.encode() + b"}", payload)


def _metadata(key: str, value: str):
    def change(meta: dict) -> None:
        meta[key] = value

    return change


def _in_train(value: str):
    return _metadata("rnngen.train", '{"step": 1, "plan": ' + value + "}")


HOSTILE_JSON = {
    "deep_header": lambda data: _raw_header_with(data, DEEP),
    "huge_int_header": lambda data: _raw_header_with(data, HUGE),
    "huge_offset": lambda data: _raw_header_with(data, "[" + HUGE + "]"),
    "deep_train": lambda data: edit_metadata(data, _metadata("rnngen.train", DEEP)),
    "deep_tokenizer": lambda data: edit_metadata(data, _metadata("rnngen.tokenizer", DEEP)),
    "deep_model": lambda data: edit_metadata(data, _metadata("rnngen.model", DEEP)),
    "deep_in_train": lambda data: edit_metadata(data, _in_train(DEEP)),
    "nested_50_in_train": lambda data: edit_metadata(data, _in_train(NESTED_50)),
    "huge_format": lambda data: edit_metadata(data, _metadata("rnngen.format", HUGE)),
    "huge_hidden": lambda data: edit_document(data, "rnngen.model", lambda d: d.update(hidden=10**4000)),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_JSON))
def test_deep_nesting_and_huge_integers_are_one_line_errors(tmp_path, char_bytes, case):
    path = write(tmp_path / "hostile.safetensors", HOSTILE_JSON[case](char_bytes))
    with pytest.raises(RnngenError) as err:
        load_checkpoint(path)
    assert "\n" not in str(err.value) and len(str(err.value)) < 300, str(err.value)[:500]
    assert_clean_failure(run_cli("info", path, ok=False), str(path))


def test_a_huge_integer_in_training_metadata_is_marked_and_hides_nothing(tmp_path, char_bytes):
    path = write(
        tmp_path / "huge.safetensors", edit_metadata(char_bytes, _metadata("rnngen.train", '{"step": ' + HUGE + "}"))
    )
    assert load_checkpoint(path).train["step"] == math.inf  # read as a float: no count, but no crash
    text = run_cli("info", path).output
    assert "parameters" in text and re.search(r"^malformed .*\bstep\b", text, re.M), text


# ---- info shows what is valid and marks the rest --------------------------------------------

ILL_TYPED_TRAIN = {
    "step": [1],
    "tokens_seen": "many",
    "elapsed_s": {"s": 1},
    "best_val_loss": "abc",
    "best_step": [2],
    "history": 5,
    "config": ["lr", "abc"],
    "plan": 7,
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[bytes, object]:
    folder = tmp_path_factory.mktemp("trained")
    corpus = folder / "english.txt"
    corpus.write_text(ENGLISH * 12, encoding="utf-8")
    out = folder / "char.safetensors"
    run_cli("train", corpus, "--steps", "6", "--eval-every", "3", "--out", out, *TINY)
    return out.read_bytes(), corpus


@pytest.mark.parametrize("field", sorted(ILL_TYPED_TRAIN))
def test_info_shows_what_is_valid_and_marks_an_ill_typed_train_field(tmp_path, trained, field):
    data, _ = trained
    path = write(
        tmp_path / "odd.safetensors",
        edit_document(data, "rnngen.train", lambda d: d.update({field: ILL_TYPED_TRAIN[field]})),
    )
    text = run_cli("info", path).output
    assert re.search(rf"^malformed .*\b{field}\b", text, re.M), text
    assert "parameters" in text and "vocabulary" in text  # what is valid still shows
    if field != "step":
        assert "trained      6 steps" in text
    doc = json.loads(run_cli("info", path, "--json").output)
    assert field in doc["malformed"]
    assert doc["step"] == (None if field == "step" else 6)


def test_info_keeps_the_valid_rows_of_a_partly_malformed_history(tmp_path, trained):
    data, _ = trained

    def odd_rows(doc: dict) -> None:
        doc["history"] = [*doc["history"], "row", {"step": "x"}, {"step": 9, "train_loss": "low"}]

    path = write(tmp_path / "rows.safetensors", edit_document(data, "rnngen.train", odd_rows))
    text = run_cli("info", path).output
    assert "             3 " in text and "             6 " in text and "             9 " not in text
    assert re.search(r"^malformed .*\bhistory\b", text, re.M), text


# ---- train --resume validates the checkpoint's settings and progress -------------------------

RESUME_CASES = {
    "negative_lr": ({"config": {"lr": -1.0}}, "lr must be"),
    "nan_clip": ({"config": {"clip": math.nan}}, "clip must be"),
    "string_lr": ({"config": {"lr": "abc"}}, "lr must be"),
    "string_hidden": ({"config": {"hidden": "abc"}}, "hidden"),
    "zero_batch": ({"config": {"batch_size": 0}}, "batch-size"),
    "no_seq_len": ({"config": {"seq_len": None}}, "seq-len"),
    "bad_val_frac": ({"config": {"val_frac": 5}}, "val-frac"),
    "bad_schedule": ({"config": {"schedule": "zigzag"}}, "schedule"),
    "bad_weight_decay": ({"config": {"weight_decay": -3}}, "weight-decay"),
    "config_not_a_dict": ({"config": ["lr"]}, "config"),
    # Checked before a model is built from the settings: 2**40 units would be allocated first.
    "huge_hidden": ({"config": {"hidden": 2**40}}, "hidden"),
    "other_cell": ({"config": {"cell": "gru"}}, "cell"),
    "step_list": ({"step": [1]}, "step"),
    "tokens_seen_text": ({"tokens_seen": "many"}, "tokens_seen"),
    "elapsed_dict": ({"elapsed_s": {}}, "elapsed_s"),
    "lr_scale_nan": ({"lr_scale": math.nan}, "lr_scale"),
    "optim_step_text": ({"optim_step": "x"}, "optim_step"),
    "history_number": ({"history": 5}, "history"),
    "history_rows": ({"history": ["x"]}, "history"),
    "best_val_text": ({"best_val_loss": "abc"}, "best_val_loss"),
    "train_tokens_text": ({"train_tokens": "x"}, "train_tokens"),
    "plan_number": ({"plan": 7}, "plan"),
}


def _apply(changes: dict):
    def change(doc: dict) -> None:
        for key, value in changes.items():
            if key == "config" and isinstance(value, dict):
                doc["config"].update(value)
            else:
                doc[key] = value

    return change


@pytest.mark.parametrize("case", sorted(RESUME_CASES))
def test_resume_validates_the_checkpoint_s_settings_and_progress(tmp_path, trained, case):
    data, corpus = trained
    changes, named = RESUME_CASES[case]
    path = write(tmp_path / "odd.safetensors", edit_document(data, "rnngen.train", _apply(changes)))
    result = run_cli("train", corpus, "--resume", path, "--steps", "8", "--threads", "1", ok=False)
    assert_clean_failure(result, named)
    assert "checkpoint" in result.stderr


def test_a_setting_the_user_gives_on_resume_replaces_the_checkpoint_s_bad_one(tmp_path, trained):
    data, corpus = trained
    path = write(tmp_path / "odd.safetensors", edit_document(data, "rnngen.train", _apply({"config": {"lr": -1.0}})))
    run_cli("train", corpus, "--resume", path, "--steps", "8", "--lr", "1e-3", "--threads", "1")
    assert load_checkpoint(path).train["config"]["lr"] == 1e-3


@pytest.mark.parametrize("config", [["x"], {"val_frac": "abc"}, {"val_frac": 7}])
def test_eval_of_the_validation_split_with_a_malformed_val_frac_is_one_line(tmp_path, trained, config):
    data, corpus = trained
    path = write(tmp_path / "odd.safetensors", edit_document(data, "rnngen.train", lambda d: d.update(config=config)))
    assert_clean_failure(run_cli("eval", path, corpus, "--split", "val", ok=False), "val_frac")
    run_cli("eval", path, corpus)  # the whole text needs no split


# ---- the TUI's checkpoint list reads headers only: a forged one is skipped, not a crash ---------

FORGED_HEADERS = {
    "deep_train": lambda data: edit_metadata(data, _metadata("rnngen.train", DEEP)),
    "huge_step": lambda data: edit_metadata(data, _in_train(HUGE)),
    "model_a_list": lambda data: edit_metadata(data, _metadata("rnngen.model", "[1, 2]")),
    "tokenizer_a_string": lambda data: edit_metadata(data, _metadata("rnngen.tokenizer", '"char"')),
}


@pytest.mark.parametrize("case", sorted(FORGED_HEADERS))
def test_the_tui_checkpoint_list_survives_a_forged_header(tmp_path, char_bytes, case):
    from rnngen.tui.checkpoints import find_checkpoints

    write(tmp_path / "good.safetensors", char_bytes)
    write(tmp_path / "forged.safetensors", FORGED_HEADERS[case](char_bytes))
    listed = {item.path.name: item.summary for item in find_checkpoints(tmp_path)}
    assert listed["good.safetensors"].startswith("LSTM 1x4 char")
