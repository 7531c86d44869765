"""The Hugging Face-style model folder: its layout, and the checks that a folder agrees with itself.

``rnngen export CKPT --format hf OUT`` writes (see ``hf_export.py``)::

    OUT/model.safetensors   the weights, with {"format": "pt"} and rnngen's own metadata:
                            a weights-only rnngen checkpoint (format 3), the one source of truth
    OUT/config.json         the architecture, for people and Hub tooling
    OUT/tokenizer.json      BPE: the Hugging Face ``tokenizers`` document
    OUT/vocab.json          char and word: {token: id}
    OUT/README.md           the model card (not needed to load)

Loading reads the weights file as any checkpoint (``checkpoint.load_checkpoint`` sends a
folder here first) and refuses a folder whose ``config.json`` or tokenizer file says
something else: every file is someone's, and a stranger's folder is read as carefully as a
stranger's checkpoint (size caps, bounded JSON, types, one-line errors).
"""

from __future__ import annotations

import json
import math
import os
import stat
from importlib import metadata
from pathlib import Path
from typing import TypeGuard

from rnngen.errors import RnngenError
from rnngen.model import ModelConfig
from rnngen.safe_json import JSONRefused
from rnngen.safe_json import loads as bounded_json
from rnngen.terminal_text import json_escape_controls
from rnngen.tokenizers import Tokenizer

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
FOLDER_FORMAT = 1  # config.json's format_version; a newer one is refused with "upgrade rnngen"
MAX_CONFIG_BYTES = 1 << 20  # the architecture fits in a few hundred bytes
MAX_TOKENIZER_BYTES = 64 << 20  # as checkpoint headers (vocabularies live there too)

# config.json's architecture fields: each must hold exactly the weights file's value.
_MODEL_FIELDS = {"cell": str, "layers": int, "hidden": int, "embed": int, "tie": bool, "dropout": float}


def _rnngen_version() -> str:
    # From the installed package's metadata: importing ``rnngen`` itself here would make a cycle.
    try:
        return metadata.version("rnngen")
    except metadata.PackageNotFoundError:
        return "unknown"


def tokenizer_file(level: str) -> str:
    """The tokenizer file's name for a tokenizer level."""
    return "tokenizer.json" if level == "bpe" else "vocab.json"


def is_model_folder(path: Path) -> bool:
    """A folder laid out as an exported model (whether its contents are valid is checked on load)."""
    return path.is_dir() and (path / CONFIG_FILE).exists() and (path / WEIGHTS_FILE).exists()


def config_document(config: ModelConfig, tokenizer: Tokenizer) -> dict:
    """config.json: the architecture as Hub tooling (model_type) and people read it."""
    return {
        "model_type": "rnngen",
        "architectures": ["RNNLanguageModel"],
        "format_version": FOLDER_FORMAT,
        "rnngen_version": _rnngen_version(),
        "cell": config.cell,
        "layers": config.layers,
        "hidden": config.hidden,
        "embed": config.embed,
        "tie": config.tie,
        "dropout": float(config.dropout),
        "vocab_size": config.vocab_size,
        "level": tokenizer.level,
        "tokenizer_file": tokenizer_file(tokenizer.level),
        "weights_file": WEIGHTS_FILE,
    }


def tokenizer_document(tokenizer: Tokenizer) -> dict:
    """The tokenizer file's JSON: the ``tokenizers`` library's own document for BPE
    (``tokenizers.Tokenizer.from_file`` reads it), {token: id} for char and word."""
    if tokenizer.level == "bpe":
        return json.loads(tokenizer.hf.to_str())  # type: ignore[attr-defined]
    return {token: i for i, token in enumerate(tokenizer.vocab)}


def json_bytes(doc: dict) -> bytes:
    """Readable, valid JSON whose control characters are all escaped (safe to ``cat``)."""
    return (json_escape_controls(json.dumps(doc, ensure_ascii=False, indent=2)) + "\n").encode("utf-8")


def weights_path(folder: Path) -> Path:
    """The weights file of a model folder, after checking config.json (before any weight is read)."""
    folder = Path(folder)
    if not (folder / CONFIG_FILE).exists() and not (folder / WEIGHTS_FILE).exists():
        raise RnngenError(f"{folder} is a folder, not a checkpoint file or an exported model folder")
    read_config(folder)
    path = folder / WEIGHTS_FILE
    _regular_file(folder, WEIGHTS_FILE)
    return path


def read_config(folder: Path) -> dict:
    """config.json, every field rnngen reads checked for type; one-line errors."""
    name = folder / CONFIG_FILE
    doc = _read_json(folder, CONFIG_FILE, MAX_CONFIG_BYTES)
    if not isinstance(doc, dict):
        raise RnngenError(f"{name} is not a JSON object")
    version = doc.get("format_version")
    if not _whole(version) or version < 1:
        raise RnngenError(f"{name}: format_version must be a positive whole number")
    if version > FOLDER_FORMAT:
        raise RnngenError(
            f"{name} was written by a newer rnngen (folder format {version}; this one reads up to "
            f"{FOLDER_FORMAT}): upgrade rnngen"
        )
    if doc.get("model_type") != "rnngen":
        raise RnngenError(f'{name}: model_type must be "rnngen" (this is not an rnngen model folder)')
    for field, kind in {**_MODEL_FIELDS, "vocab_size": int, "level": str, "tokenizer_file": str}.items():
        value = doc.get(field)
        if kind is int:
            ok = _whole(value)
        elif kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        else:
            ok = isinstance(value, kind)
        if not ok:
            raise RnngenError(f"{name}: {field} is missing or not a {_KIND_NAMES[kind]}")
    if doc["level"] not in ("char", "word", "bpe"):
        raise RnngenError(f"{name}: level must be char, word or bpe")
    if doc["tokenizer_file"] != tokenizer_file(doc["level"]):
        # Never a path of the folder's choosing ("../../somewhere"): the name follows from the level.
        raise RnngenError(f"{name}: tokenizer_file must be {tokenizer_file(doc['level'])} for level {doc['level']}")
    return doc


_KIND_NAMES = {str: "string", int: "whole number", bool: "true/false", float: "number"}


def check_folder(folder: Path, config: ModelConfig, tokenizer: Tokenizer) -> None:
    """config.json and the tokenizer file say what the weights file's metadata says."""
    folder = Path(folder)
    doc = read_config(folder)
    expected = config_document(config, tokenizer)
    for field in (*_MODEL_FIELDS, "vocab_size", "level"):
        if doc[field] != expected[field]:  # the types were checked by read_config
            raise RnngenError(
                f"{folder / CONFIG_FILE} says {field} {_shown(doc[field])} but {WEIGHTS_FILE} holds "
                f"{_shown(expected[field])}"
            )
    name = tokenizer_file(tokenizer.level)
    found = _read_json(folder, name, MAX_TOKENIZER_BYTES)
    if _canonical(found) != _canonical(tokenizer_document(tokenizer)):
        raise RnngenError(f"{folder / name} does not match the vocabulary stored in {WEIGHTS_FILE}")


def _canonical(doc: object) -> str:
    return json.dumps(doc, sort_keys=True, ensure_ascii=True, allow_nan=True)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _regular_file(folder: Path, name: str) -> None:
    try:
        mode = os.stat(folder / name).st_mode
    except FileNotFoundError:
        raise RnngenError(f"{folder} is not a model folder: {name} is missing") from None
    except OSError as exc:
        raise RnngenError(f"cannot read {folder / name}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise RnngenError(f"{folder / name} is not a regular file")


def _read_json(folder: Path, name: str, cap: int) -> object:
    """A small JSON file of the folder: a regular file (never a FIFO or a device), at most
    ``cap`` bytes, parsed with bounded nesting and integers."""
    path = folder / name
    _regular_file(folder, name)
    try:
        # O_NONBLOCK: a FIFO swapped in after the check above cannot hang the open.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise RnngenError(f"{path} is not a regular file")
            data = handle.read(cap + 1)
    except OSError as exc:
        raise RnngenError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > cap:
        raise RnngenError(f"{path} is larger than {cap >> 20} MB; refusing to read it")
    try:
        return bounded_json(data)
    except JSONRefused as exc:
        raise RnngenError(f"{path} {exc}") from None
