"""Interchange: hidden states for LSTMVis, and the network as ONNX for other runtimes.

LSTMVis (Strobelt, Gehrmann, Pfister & Rush, 2017; github.com/HendrikStrobelt/LSTMVis)
reads a folder holding:

- ``states.hdf5``: one (tokens, hidden) float32 table per layer and kind:
  ``states1..L`` (the LSTM cell state c_t; for GRU/RNN, h_t) and ``output1..L`` (h_t);
- ``train.hdf5``: ``word_ids``, the (tokens,) token id of each position;
- ``words.dict``: one ``token id`` line per vocabulary entry (whitespace escaped:
  space ``␣``, ``\\n``, ``\\t``, other whitespace ``\\uXXXX``);
- ``lstm.yml``: the project description that ties them together.

Row t of every table is the state after reading token t, starting from a zero state.
Needs h5py (the ``export`` extra). ONNX export uses torch's TorchScript-based exporter,
so neither ``onnx`` nor ``onnxscript`` is needed to write the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rnngen.errors import RnngenError, setting
from rnngen.model import RNNLanguageModel
from rnngen.sampling import StepModel


@torch.inference_mode()
def hidden_states(model: RNNLanguageModel, ids: np.ndarray) -> dict[str, np.ndarray]:
    """{"h": (layers, T, H), "c": (layers, T, H) for LSTM} after each token, from a zero state."""
    model.eval()
    stepper = StepModel(model)
    config = model.config
    T = int(ids.size)
    h = np.zeros((config.layers, T, config.hidden), dtype=np.float32)
    c = np.zeros_like(h) if config.cell == "lstm" else None
    state = stepper.init_state(1)
    tokens = torch.from_numpy(np.asarray(ids, dtype=np.int64))
    for t in range(T):
        _, state = stepper.step(tokens[t : t + 1], state)
        h[:, t] = state[0][:, 0].numpy()
        if c is not None:
            c[:, t] = state[1][:, 0].numpy()
    return {"h": h, "c": c} if c is not None else {"h": h}


def dict_entry(text: str) -> str:
    """A token as one whitespace-free field of ``words.dict``."""
    out = []
    for ch in text:
        if ch == " ":
            out.append("␣")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch.isspace() or not ch.isprintable():
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out) or "<empty>"


def _token_labels(tokenizer) -> list[str]:
    labels, seen = [], set()
    for i, raw in enumerate(tokenizer.vocab):
        label = dict_entry(tokenizer.token_text(i))
        if label in seen or "\ufffd" in label:  # BPE pieces of a character: keep the byte-level spelling
            label = dict_entry(raw)
        if label in seen:
            label = f"{label}#{i}"
        seen.add(label)
        labels.append(label)
    return labels


def export_lstmvis(model: RNNLanguageModel, tokenizer, text: str, folder: Path, *, name: str = "rnngen") -> dict:
    """Write the LSTMVis folder for ``text``; returns a summary (tokens, tables, files)."""
    try:
        import h5py
    except ImportError:
        raise RnngenError(f"{setting('format')} lstmvis needs h5py: pip install 'rnngen[export]'") from None
    ids = tokenizer.encode(text)
    if ids.size == 0:
        raise RnngenError("the text to export is empty")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RnngenError(f"{folder} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RnngenError(f"cannot create {folder}: {exc.strerror or exc}") from None
    states = hidden_states(model, ids)
    layers = model.config.layers
    cell_kind = "c" if "c" in states else "h"
    tables = {}
    with h5py.File(folder / "states.hdf5", "w") as f:
        for k in range(layers):
            f.create_dataset(f"states{k + 1}", data=states[cell_kind][k])
            f.create_dataset(f"output{k + 1}", data=states["h"][k])
            tables[f"states{k + 1}"] = tables[f"output{k + 1}"] = states["h"][k].shape
    with h5py.File(folder / "train.hdf5", "w") as f:
        f.create_dataset("word_ids", data=np.asarray(ids, dtype=np.int64))
    labels = _token_labels(tokenizer)
    (folder / "words.dict").write_text("".join(f"{label} {i}\n" for i, label in enumerate(labels)), encoding="utf-8")
    types = []
    for k in range(layers):
        types.append(f"        {{type: state, layer: {k + 1}, path: states{k + 1}}}")
        types.append(f"        {{type: output, layer: {k + 1}, path: output{k + 1}}}")
    c = model.config
    description = (
        f"rnngen {c.label}, {tokenizer.level} level; "
        f"states{'' if cell_kind == 'c' else ' (= outputs, no cell state)'} per layer"
    )
    yml = (
        f"name: {_yaml_str(name)}\n"
        f"description: {_yaml_str(description)}\n\n"
        "files:\n  states: states.hdf5\n  train: train.hdf5\n  words: words.dict\n\n"
        "word_sequence:\n  file: train\n  path: word_ids\n  dict_file: words\n\n"
        "states:\n  file: states\n  types: [\n" + ",\n".join(types) + "\n  ]\n"
    )
    (folder / "lstm.yml").write_text(yml, encoding="utf-8")
    return {"tokens": int(ids.size), "tables": tables, "folder": folder}


def _yaml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _OnnxWrapper(torch.nn.Module):
    """Flat tensors in and out: (ids, h[, c]) -> (logits, h_out[, c_out])."""

    def __init__(self, model: RNNLanguageModel):
        super().__init__()
        self.model = model
        self.lstm = model.config.cell == "lstm"

    def forward(self, ids, h, c=None):
        state = (h, c) if self.lstm else (h,)
        logits, new_state = self.model(ids, state)
        return (logits, *new_state)


def export_onnx(model: RNNLanguageModel, out: Path, *, opset: int = 17) -> dict:
    """Write the network as ONNX: inputs ``ids`` (batch, time) int64, ``h`` (and ``c``)
    (layers, batch, hidden); outputs ``logits`` (batch, time, vocab), ``h_out`` (``c_out``).
    Batch and time are dynamic."""
    import warnings

    model = model.eval()
    lstm = model.config.cell == "lstm"
    ids = torch.zeros(1, 4, dtype=torch.long)
    state = model.init_state(1, "cpu")
    names_in = ["ids", "h"] + (["c"] if lstm else [])
    names_out = ["logits", "h_out"] + (["c_out"] if lstm else [])
    axes = {"ids": {0: "batch", 1: "time"}, "logits": {0: "batch", 1: "time"}}
    for n in names_in[1:] + names_out[1:]:
        axes[n] = {1: "batch"}
    out = Path(out)
    if out.parent != Path(""):
        out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and batch-size notes
        try:
            torch.onnx.export(
                _OnnxWrapper(model),
                (ids, *state),
                str(out),
                dynamo=False,
                input_names=names_in,
                output_names=names_out,
                dynamic_axes=axes,
                opset_version=opset,
            )
        except OSError as exc:
            raise RnngenError(f"cannot write {out}: {exc.strerror or exc}") from None
    return {"path": out, "inputs": names_in, "outputs": names_out, "opset": opset}
