import json
import struct

import pytest
import torch
from safetensors.torch import save_file

from rnngen.checkpoint import (
    FORMAT_VERSION,
    Checkpoint,
    is_rnngen_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from rnngen.errors import RnngenError
from rnngen.model import ModelConfig, RNNLanguageModel
from rnngen.tokenizers import CharTokenizer


def _ckpt(tie=False, cell="lstm"):
    tok = CharTokenizer.fit("hello world")
    size = 8 if tie else 6
    config = ModelConfig(cell=cell, vocab_size=tok.vocab_size, embed=size, hidden=8, layers=2, tie=tie)
    torch.manual_seed(0)
    model = RNNLanguageModel(config)
    return Checkpoint(config, tok, {"step": 3, "history": []}, dict(model.state_dict())), model


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_round_trip_restores_identical_weights(tmp_path, cell):
    ckpt, model = _ckpt(cell=cell)
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, ckpt)
    loaded = load_checkpoint(path)
    again = loaded.build_model()
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
    assert loaded.tokenizer.vocab == ckpt.tokenizer.vocab
    assert loaded.train["step"] == 3 and loaded.format_version == FORMAT_VERSION
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left behind


def test_tied_weights_are_stored_once_and_stay_tied(tmp_path):
    ckpt, _ = _ckpt(tie=True)
    path = tmp_path / "t.safetensors"
    save_checkpoint(path, ckpt)
    model = load_checkpoint(path).build_model()
    assert model.head.weight.data_ptr() == model.embedding.weight.data_ptr()


def test_tie_with_different_sizes_is_refused():
    with pytest.raises(RnngenError, match="^tie needs embed equal to hidden"):
        ModelConfig(vocab_size=5, embed=4, hidden=8, tie=True).validate()


def _write_raw(path, header: dict, payload: bytes = b""):
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + payload)


def test_garbage_files_are_clear_errors(tmp_path):
    cases = {
        "empty": b"",
        "text": b"this is not a checkpoint at all, just some words",
        "huge_header": struct.pack("<Q", 2**62) + b"{}",
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(RnngenError):
            load_checkpoint(path)
        assert not is_rnngen_checkpoint(path)
    with pytest.raises(RnngenError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_truncated_checkpoint_is_refused(tmp_path):
    ckpt, _ = _ckpt()
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, ckpt)
    data = path.read_bytes()
    short = tmp_path / "short.safetensors"
    short.write_bytes(data[: len(data) - 100])
    with pytest.raises(RnngenError, match="truncated|does not fit"):
        load_checkpoint(short)


def test_foreign_safetensors_is_not_an_rnngen_checkpoint(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    with pytest.raises(RnngenError, match="not an rnngen checkpoint"):
        load_checkpoint(path)


def test_newer_format_is_refused_with_upgrade_hint(tmp_path):
    ckpt, _ = _ckpt()
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, ckpt)
    tensors = {k: v for k, v in ckpt.tensors.items()}
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    meta["rnngen.format"] = json.dumps(FORMAT_VERSION + 1)
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(RnngenError, match="newer rnngen"):
        load_checkpoint(path)


def test_metadata_shapes_that_disagree_with_tensors_are_refused(tmp_path):
    ckpt, _ = _ckpt()
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, ckpt)
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    model_doc = json.loads(meta["rnngen.model"])
    model_doc["hidden"] = 4096  # claims a far bigger model than the tensors hold
    meta["rnngen.model"] = json.dumps(model_doc)
    save_file(dict(ckpt.tensors), str(path), metadata=meta)
    with pytest.raises(RnngenError, match="shape"):
        load_checkpoint(path)


def test_header_entry_pointing_outside_the_file_is_refused(tmp_path):
    path = tmp_path / "bad.safetensors"
    _write_raw(path, {"__metadata__": {"rnngen.format": "1"},
                      "w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4000000]}}, b"\0" * 16)
    with pytest.raises(RnngenError, match="does not fit"):
        load_checkpoint(path)


def test_nan_weights_are_refused(tmp_path):
    ckpt, _ = _ckpt()
    ckpt.tensors["head.bias"] = torch.full_like(ckpt.tensors["head.bias"], float("nan"))
    path = tmp_path / "nan.safetensors"
    save_checkpoint(path, ckpt)
    with pytest.raises(RnngenError, match="NaN"):
        load_checkpoint(path)


def test_reading_while_a_writer_replaces_the_file_sees_one_whole_version(tmp_path):
    # A reader (rnngen sample/info during training, or a test) must never pair one
    # version's metadata with another version's tensors when os.replace lands mid-read.
    import threading

    ckpt, _ = _ckpt()
    path = tmp_path / "live.safetensors"
    save_checkpoint(path, ckpt)
    stop = threading.Event()

    def writer():
        step = 0
        while not stop.is_set():
            step += 1
            tensors = {k: v + step for k, v in ckpt.tensors.items()}
            save_checkpoint(path, Checkpoint(ckpt.model_config, ckpt.tokenizer, {"step": step}, tensors))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        steps = [load_checkpoint(path).train["step"] for _ in range(300)]
    finally:
        stop.set()
        thread.join()
    assert len(set(steps)) > 1  # the writer really did replace the file during the reads
