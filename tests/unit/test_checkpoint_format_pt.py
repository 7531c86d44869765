"""rnngen's checkpoints carry safetensors' standard ``{"format": "pt"}`` metadata, inside
the checksum; files written before it existed (format 2, no such key) still load."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from rnngen.checkpoint import CHECKSUM_KEY, Checkpoint, content_digest, load_checkpoint, save_checkpoint
from rnngen.errors import RnngenError
from rnngen.model import ModelConfig, RNNLanguageModel
from rnngen.tokenizers import CharTokenizer


def _saved(tmp_path):
    tok = CharTokenizer.fit("hello world")
    config = ModelConfig(cell="gru", vocab_size=tok.vocab_size, embed=6, hidden=8, layers=1)
    torch.manual_seed(0)
    model = RNNLanguageModel(config)
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, Checkpoint(config, tok, {"step": 3, "history": []}, dict(model.state_dict())))
    return path, model


def _metadata(path) -> dict[str, str]:
    with safe_open(str(path), "pt") as f:
        return dict(f.metadata())


def test_own_checkpoints_carry_format_pt(tmp_path):
    path, _ = _saved(tmp_path)
    assert _metadata(path)["format"] == "pt"
    assert set(load_file(str(path))) >= {"embedding.weight", "head.weight"}


def test_format_pt_is_inside_the_checksum(tmp_path):
    path, _ = _saved(tmp_path)
    meta, tensors = _metadata(path), load_file(str(path))
    stored = json.loads(meta[CHECKSUM_KEY])["sha256"]
    assert content_digest(tensors, meta) == stored
    assert content_digest(tensors, {k: v for k, v in meta.items() if k != "format"}) != stored
    meta["format"] = "np"  # changed without resealing: the checksum no longer matches
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(RnngenError, match="corrupt"):
        load_checkpoint(path)


def test_format_3_without_format_pt_is_refused(tmp_path):
    path, _ = _saved(tmp_path)
    meta, tensors = _metadata(path), load_file(str(path))
    del meta["format"]
    meta[CHECKSUM_KEY] = json.dumps({"sha256": content_digest(tensors, meta)})  # resealed, as a forger would
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(RnngenError, match='format must be "pt"'):
        load_checkpoint(path)


def test_format_2_file_without_format_key_still_loads(tmp_path):
    """What rnngen wrote before: rnngen.format 2, no "format" key, the checksum over rnngen's keys."""
    path, model = _saved(tmp_path)
    meta, tensors = _metadata(path), load_file(str(path))
    meta.pop("format", None)
    meta["rnngen.format"] = "2"
    meta[CHECKSUM_KEY] = json.dumps({"sha256": content_digest(tensors, meta)})
    save_file(tensors, str(path), metadata=meta)
    loaded = load_checkpoint(path)
    assert loaded.format_version == 2
    for name, weight in model.state_dict().items():
        assert torch.equal(loaded.build_model().state_dict()[name], weight), name
