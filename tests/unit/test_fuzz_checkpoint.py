"""Fuzz the checkpoint loader: thousands of mutated files, and only RnngenError may escape.

Mutations start from a real (tiny) resumable checkpoint: bit flips, truncations, random
bytes written over it, inserted and deleted bytes, and edits of the safetensors header
(tensor entries and rnngen's JSON metadata replaced by random JSON), with the checksum
kept, removed or recomputed so the fuzzer also reaches the validators behind it; and a
forger's metadata (tests/helpers/hostile.py): deep nesting, huge integers, hostile BPE
tokenizer documents, ill-typed training metadata. ``rnngen info`` and ``train --resume``
get the same forgeries in tests/reliability/test_fuzz_cli_checkpoint.py.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path

import pytest
import torch
from helpers.hostile import apply, hf_mutations, json_values, metadata_mutations
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnngen.bpe import BPETokenizer
from rnngen.checkpoint import CHECKSUM_KEY, Checkpoint, content_digest, load_checkpoint, save_checkpoint
from rnngen.errors import RnngenError
from rnngen.model import ModelConfig, RNNLanguageModel
from rnngen.tokenizers import CharTokenizer, WordTokenizer

# RNNGEN_FUZZ_SCALE=10 for a long run; the default keeps the whole file near 30 s of CPU time.
SCALE = float(os.environ.get("RNNGEN_FUZZ_SCALE", "1"))


def FUZZ(n: int) -> settings:
    return settings(
        max_examples=max(1, int(n * SCALE)),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


_WORK = Path(tempfile.mkdtemp(prefix="rnngen-fuzz-"))


def _make(cell: str, level: str) -> bytes:
    text = "to be or not to be, that is the question"
    tok = {"char": CharTokenizer.fit, "word": WordTokenizer.fit, "bpe": lambda t: BPETokenizer.fit(t, 300)}[level](text)
    config = ModelConfig(cell=cell, vocab_size=tok.vocab_size, embed=4, hidden=4, layers=2, dropout=0.1)
    torch.manual_seed(0)
    model = RNNLanguageModel(config)
    tensors = dict(model.state_dict())
    for name, p in model.named_parameters():
        tensors[f"optim.exp_avg.{name}"] = torch.randn_like(p)
        tensors[f"optim.exp_avg_sq.{name}"] = torch.rand_like(p)
    tensors["train.state.0"] = torch.zeros(2, 1, 4)
    tensors["train.rng"] = torch.get_rng_state()
    train = {"step": 7, "history": [{"step": 7, "train_loss": 3.1, "val_loss": None}], "config": {"seq_len": 8}}
    path = _WORK / f"seed-{cell}-{level}.safetensors"
    save_checkpoint(path, Checkpoint(config, tok, train, tensors))
    return path.read_bytes()


SEEDS = {key: _make(*key) for key in [("lstm", "char"), ("gru", "word"), ("rnn", "char"), ("gru", "bpe")]}
ORIGINAL = {key: load_checkpoint(_WORK / f"seed-{key[0]}-{key[1]}.safetensors") for key in SEEDS}
seeds = st.sampled_from(sorted(SEEDS))


def _load(data: bytes):
    """The property: loading (and building the model) succeeds or raises RnngenError only."""
    path = _WORK / "case.safetensors"
    path.write_bytes(data)
    try:
        ckpt = load_checkpoint(path)
        model = ckpt.build_model()
    except RnngenError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message
        return None
    assert sum(p.numel() for p in model.parameters()) < 10_000_000
    return ckpt


def _same(a, b) -> bool:
    return (
        a.model_config == b.model_config
        and a.tokenizer.vocab == b.tokenizer.vocab
        and a.train == b.train
        and a.tensors.keys() == b.tensors.keys()
        and all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)
    )


# ---- byte-level mutations: anything that loads must be exactly the original -----------


@FUZZ(1200)
@given(seeds, st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 7)), min_size=1, max_size=8))
def test_bit_flips(key, flips):
    data = bytearray(SEEDS[key])
    for pos, bit in flips:
        data[pos % len(data)] ^= 1 << bit
    loaded = _load(bytes(data))
    if loaded is not None:  # e.g. the same bit flipped twice: the checksum vouches for the content
        assert _same(loaded, ORIGINAL[key])


@FUZZ(800)
@given(seeds, st.integers(0, 10**9))
def test_truncations(key, cut):
    data = SEEDS[key]
    assert _load(data[: cut % len(data)]) is None


@FUZZ(800)
@given(
    seeds, st.integers(0, 10**9), st.binary(min_size=1, max_size=64), st.sampled_from(["overwrite", "insert", "delete"])
)
def test_byte_splices(key, pos, junk, how):
    data = SEEDS[key]
    pos %= len(data)
    if how == "overwrite":
        mutated = data[:pos] + junk + data[pos + len(junk) :]
    elif how == "insert":
        mutated = data[:pos] + junk + data[pos:]
    else:
        mutated = data[:pos] + data[pos + len(junk) :]
    loaded = _load(mutated[: max(len(mutated), 0)])
    if loaded is not None:
        assert _same(loaded, ORIGINAL[key])


# ---- header-level mutations: well-formed safetensors, hostile contents ----------------

FIELDS = {
    "rnngen.model": ["cell", "vocab_size", "embed", "hidden", "layers", "dropout", "tie"],
    "rnngen.tokenizer": ["level", "vocab"],
    "rnngen.train": ["step", "history", "config"],
    "rnngen.format": [],
    CHECKSUM_KEY: ["sha256"],
}


def _split(data: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def _join(header: dict, payload: bytes) -> bytes:
    raw = json.dumps(header, allow_nan=True).encode()
    return struct.pack("<Q", len(raw)) + raw + payload


def _reseal(header: dict, payload: bytes, key) -> dict:
    """Recompute the checksum for edited metadata, so the edit reaches the validators behind it."""
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        return header
    tensors = ORIGINAL[key].tensors
    meta[CHECKSUM_KEY] = json.dumps({"sha256": content_digest(tensors, meta)})
    return header


@FUZZ(800)
@given(seeds, st.sampled_from(sorted(FIELDS)), st.data(), st.sampled_from(["keep", "drop", "reseal", "legacy"]))
def test_metadata_edits(key, field, data, checksum):
    header, payload = _split(SEEDS[key])
    meta = header["__metadata__"]
    if FIELDS[field] and data.draw(st.booleans()):
        doc = json.loads(meta[field])
        doc[data.draw(st.sampled_from(FIELDS[field]))] = data.draw(json_values)
        meta[field] = json.dumps(doc, allow_nan=True)
    elif data.draw(st.booleans()):
        meta[field] = data.draw(st.text(max_size=40))
    else:
        meta[field] = json.dumps(data.draw(json_values), allow_nan=True)
    if checksum in ("drop", "legacy"):
        meta.pop(CHECKSUM_KEY, None)
        if checksum == "legacy":  # a format-1 file: no checksum to stop the edit early
            meta["rnngen.format"] = "1"
    elif checksum == "reseal":
        _reseal(header, payload, key)
    _load(_join(header, payload))


@FUZZ(800)
@given(seeds, st.data())
def test_tensor_entry_edits(key, data):
    header, payload = _split(SEEDS[key])
    names = sorted(k for k in header if k != "__metadata__")
    name = data.draw(st.sampled_from(names))
    what = data.draw(st.sampled_from(["dtype", "shape", "data_offsets", "entry", "rename", "remove", "metadata"]))
    if what == "dtype":
        header[name]["dtype"] = data.draw(st.sampled_from(["F64", "F16", "BF16", "I64", "U8", "BOOL", "F8_E4M3", "X"]))
    elif what in ("shape", "data_offsets"):
        header[name][what] = data.draw(st.lists(st.integers(-5, 2**64), max_size=4) | json_values)
    elif what == "entry":
        header[name] = data.draw(json_values)
    elif what == "rename":
        header[data.draw(st.text(max_size=20))] = header.pop(name)
    elif what == "remove":
        header.pop(name)
    else:
        header["__metadata__"] = data.draw(json_values)
    if data.draw(st.booleans()):
        header.get("__metadata__", {}).pop(CHECKSUM_KEY, None) if isinstance(header.get("__metadata__"), dict) else None
    _load(_join(header, payload))


# ---- no allocation proportional to what a header merely claims -------------------------


@pytest.mark.parametrize(
    "claim",
    [
        {"hidden": 2**20, "layers": 64},
        {"vocab_size": 2**40},
        {"embed": 2**31, "hidden": 2**31},
    ],
)
def test_huge_claims_are_refused_before_any_allocation(claim):
    header, payload = _split(SEEDS[("lstm", "char")])
    doc = json.loads(header["__metadata__"]["rnngen.model"])
    doc.update(claim)
    header["__metadata__"]["rnngen.model"] = json.dumps(doc)
    if "vocab_size" in claim:  # the vocabulary must agree, or that check fires first
        header["__metadata__"]["rnngen.tokenizer"] = json.dumps({"level": "word", "vocab": ["<unk>"]})
    data, loaded = _join(header, payload), []
    assert _peak_growth_kib(lambda: loaded.append(_load(data))) < 200_000  # KiB: nothing near what it claims
    assert loaded == [None]  # refused


def _memory_kib(field: str) -> int:
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith(field + ":")))


def _peak_growth_kib(action) -> int:
    """How far resident memory rose, at its peak, while ``action`` ran (KiB).

    The peak (VmHWM) is first reset to the current size through /proc/self/clear_refs, so an
    allocation shows even when an earlier test already pushed the process's peak higher
    (``ru_maxrss`` never comes down and would hide it).
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError as exc:
        pytest.skip(f"resetting the peak resident size needs Linux's /proc/self/clear_refs ({exc})")
    before = _memory_kib("VmRSS")
    assert _memory_kib("VmHWM") <= before + 1024  # the reset took
    action()
    return _memory_kib("VmHWM") - before


def test_header_length_far_beyond_the_file_is_refused_before_reading():
    data = SEEDS[("gru", "word")]
    assert _load(struct.pack("<Q", 2**60) + data[8:]) is None
    assert _load(struct.pack("<Q", 60 * 1024 * 1024) + data[8:]) is None


# ---- a forger's metadata: deep nesting, huge integers, hostile tokenizers, ill-typed training ----

TEXTS = ["hi", "to be or not to be", "unseen: \U0001d11e \u2713 \x00\n\n  x", ""]


def _behaves(ckpt) -> None:
    """What a checkpoint that loads must still do: encode every text to at most one id per
    byte, decode it back exactly, and keep its ids inside the vocabulary."""
    tok = ckpt.tokenizer
    for text in TEXTS:
        if tok.level == "char" and set(text) - set(tok.vocab):
            continue
        ids = tok.encode(text)
        assert ids.size <= len(text.encode("utf-8"))
        assert all(0 <= int(i) < tok.vocab_size for i in ids)
        if tok.level != "word":
            assert tok.decode(ids) == text


@FUZZ(250)
@given(seeds, metadata_mutations)
def test_forged_metadata(key, mutation):
    loaded = _load(apply(SEEDS[key], mutation))
    if loaded is not None:
        _behaves(loaded)


@FUZZ(200)
@given(hf_mutations())
def test_forged_bpe_tokenizer(mutation):
    loaded = _load(apply(SEEDS[("gru", "bpe")], mutation))
    if loaded is not None:
        _behaves(loaded)
        assert loaded.tokenizer.vocab == ORIGINAL[("gru", "bpe")].tokenizer.vocab
