"""rnngen export: LSTMVis folders (read back with h5py) and ONNX (run in onnxruntime)."""

import h5py
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import yaml

from rnngen.checkpoint import load_checkpoint

from helpers.cli import ENGLISH, TINY, run_cli


@pytest.fixture(scope="module")
def gru2_ckpt(tmp_path_factory, english_corpus):
    out = tmp_path_factory.mktemp("gru") / "gru2.safetensors"
    run_cli("train", english_corpus, "--model", "gru", "--steps", "5", "--out", out, *TINY, "--layers", "2")
    return out


def _fused(ckpt, text):
    loaded = load_checkpoint(ckpt, with_training_state=False)
    model = loaded.build_model().eval()
    ids = torch.from_numpy(loaded.tokenizer.encode(text).astype(np.int64)).unsqueeze(0)
    with torch.no_grad():
        out, final = model.rnn(model.embedding(ids))
    return loaded, out[0].numpy(), final


def _unrolled(loaded, text):
    """Per layer, h and c after every token, from torch's own LSTMCell / GRUCell loaded with the
    model's weights: the truth the export is checked against, computed without rnngen's code."""
    model, config = loaded.build_model().eval(), loaded.model_config
    ids = torch.from_numpy(loaded.tokenizer.encode(text).astype(np.int64))
    hs, cs = [], []
    with torch.no_grad():
        x = model.embedding(ids)
        for k in range(config.layers):
            cell = (torch.nn.LSTMCell if config.cell == "lstm" else torch.nn.GRUCell)(x.shape[1], config.hidden)
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).copy_(getattr(model.rnn, f"{name}_l{k}"))
            h = c = torch.zeros(1, config.hidden)
            layer_h, layer_c = [], []
            for t in range(x.shape[0]):
                if config.cell == "lstm":
                    h, c = cell(x[t : t + 1], (h, c))
                else:
                    h = cell(x[t : t + 1], h)
                layer_h.append(h[0])
                layer_c.append(c[0])
            x = torch.stack(layer_h)
            hs.append(x.numpy())
            cs.append(torch.stack(layer_c).numpy())
    return hs, cs


@pytest.mark.parametrize("which", ["lstm", "gru2"])
def test_lstmvis_files_read_back_with_h5py(tmp_path, char_ckpt, gru2_ckpt, which):
    ckpt = char_ckpt if which == "lstm" else gru2_ckpt
    text = tmp_path / "text.txt"
    text.write_text(ENGLISH, encoding="utf-8")
    folder = tmp_path / "vis"
    run_cli("export", ckpt, "--text-file", text, "--format", "lstmvis", folder)
    loaded, last_layer_h, final = _fused(ckpt, ENGLISH)
    layers, hidden, n = loaded.model_config.layers, loaded.model_config.hidden, len(ENGLISH)

    with h5py.File(folder / "states.hdf5", "r") as f:
        assert sorted(f) == sorted([f"states{k}" for k in range(1, layers + 1)] +
                                   [f"output{k}" for k in range(1, layers + 1)])
        for name in f:
            assert f[name].shape == (n, hidden) and f[name].dtype == np.float32
        # Row t = state after token t: the last layer's outputs are the fused network's.
        np.testing.assert_allclose(f[f"output{layers}"][:], last_layer_h, atol=1e-5)
        # Every layer against torch's own cells: outputs are h_t; states are c_t (LSTM) or h_t (GRU).
        hs, cs = _unrolled(loaded, ENGLISH)
        for k in range(layers):
            np.testing.assert_allclose(f[f"output{k + 1}"][:], hs[k], atol=1e-5)
            np.testing.assert_allclose(f[f"states{k + 1}"][:], cs[k] if which == "lstm" else hs[k], atol=1e-5)
        final_state = final[1] if which == "lstm" else final  # (layers, 1, hidden) at the last token
        for k in range(layers):
            np.testing.assert_allclose(f[f"states{k + 1}"][-1], final_state[k, 0].numpy(), atol=1e-5)
    with h5py.File(folder / "train.hdf5", "r") as f:
        assert f["word_ids"].shape == (n,)
        assert f["word_ids"][:].tolist() == loaded.tokenizer.encode(ENGLISH).tolist()
    entries = [line.split() for line in (folder / "words.dict").read_text(encoding="utf-8").splitlines()]
    assert all(len(e) == 2 for e in entries)  # LSTMVis reads "token id" with str.split()
    assert [int(i) for _, i in entries] == list(range(loaded.tokenizer.vocab_size))
    assert len({t for t, _ in entries}) == len(entries)
    yml = (folder / "lstm.yml").read_text()
    assert "path: word_ids" in yml and f"{{type: output, layer: {layers}, path: output{layers}}}" in yml
    doc = yaml.safe_load(yml)  # LSTMVis reads it with PyYAML
    assert doc["files"] == {"states": "states.hdf5", "train": "train.hdf5", "words": "words.dict"}
    assert len(doc["states"]["types"]) == 2 * layers


def test_lstmvis_needs_text_and_max_tokens_cuts(tmp_path, char_ckpt):
    result = run_cli("export", char_ckpt, "--format", "lstmvis", tmp_path / "v", ok=False)
    assert result.exit_code == 1 and "--text-file" in result.output
    text = tmp_path / "t.txt"
    text.write_text(ENGLISH, encoding="utf-8")
    run_cli("export", char_ckpt, "--format", "lstmvis", tmp_path / "v", "--text-file", text, "--max-tokens", "50")
    with h5py.File(tmp_path / "v" / "states.hdf5", "r") as f:
        assert f["states1"].shape[0] == 50


@pytest.mark.parametrize("which", ["lstm", "gru2"])
def test_onnx_export_runs_in_onnxruntime(tmp_path, char_ckpt, gru2_ckpt, which):
    ckpt = char_ckpt if which == "lstm" else gru2_ckpt
    out = tmp_path / "m.onnx"
    run_cli("export", ckpt, "--format", "onnx", out)
    assert out.stat().st_size > 0
    onnx.checker.check_model(onnx.load(str(out)))
    loaded = load_checkpoint(ckpt, with_training_state=False)
    model = loaded.build_model().eval()
    ids = torch.from_numpy(np.stack([loaded.tokenizer.encode(ENGLISH[:30]), loaded.tokenizer.encode(ENGLISH[30:60])])
                           .astype(np.int64))  # batch 2, time 30: both dynamic
    state = model.init_state(2)
    session = ort.InferenceSession(str(out))
    feeds = {"ids": ids.numpy(), "h": state[0].numpy()}
    if which == "lstm":
        feeds["c"] = state[1].numpy()
    got = session.run(None, feeds)
    with torch.no_grad():
        logits, new_state = model(ids, state)
    np.testing.assert_allclose(got[0], logits.numpy(), atol=1e-4)
    np.testing.assert_allclose(got[1], new_state[0].numpy(), atol=1e-4)
