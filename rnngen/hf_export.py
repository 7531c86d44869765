"""``rnngen export CKPT --format hf OUT``: a Hugging Face-style model folder (layout in model_folder.py).

The folder is written whole or not at all: every file goes into a hidden temporary sibling
folder (random name, made with ``mkdir``, so nothing that already exists is reused), the
result is loaded back as a check, and only then is the folder renamed to ``OUT``. An
existing ``OUT`` that holds anything is refused before any work: a user's files are never
overwritten. A temporary folder left by a killed export is removed by the next export to
the same place.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from rnngen.atomic_files import temp_owner_pid, temp_prefix
from rnngen.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from rnngen.errors import RnngenError
from rnngen.model_card import CardSample, model_card
from rnngen.model_folder import (
    CARD_FILE,
    CONFIG_FILE,
    WEIGHTS_FILE,
    config_document,
    json_bytes,
    tokenizer_document,
    tokenizer_file,
)
from rnngen.sampling import SamplingConfig, run_samples

SAMPLE_SEED = 1234
SAMPLE_TEMPERATURE = 0.8
SAMPLE_LENGTH = {"char": 300, "word": 60, "bpe": 100}  # tokens: a paragraph or so at each level


def check_target(out: Path) -> None:
    """Refuse ``out`` if it holds anything (an empty folder is fine); nothing is written."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise RnngenError(f"{out} already exists and is not a folder; refusing to overwrite it")
    if out.is_dir():
        try:
            empty = next(os.scandir(out), None) is None
        except OSError as exc:
            raise RnngenError(f"cannot read {out}: {exc.strerror or exc}") from None
        if not empty:
            raise RnngenError(f"{out} already exists and is not empty; choose a new folder")


def export_hf(ckpt: Checkpoint, out: Path, *, source: str) -> dict:
    """Write the model folder for ``ckpt`` at ``out``; returns a summary (folder, files, parameters)."""
    out = Path(out)
    check_target(out)
    model = ckpt.build_model().eval()
    tokenizer = ckpt.tokenizer
    length = SAMPLE_LENGTH.get(tokenizer.level, 100)
    text = run_samples(
        model, tokenizer, length=length, config=SamplingConfig(temperature=SAMPLE_TEMPERATURE), seed=SAMPLE_SEED
    )[0].text
    sample = CardSample(text, SAMPLE_TEMPERATURE, SAMPLE_SEED, length)
    parameters = model.num_parameters()
    card = model_card(ckpt, source=source, folder_name=out.name, parameters=parameters, sample=sample)
    files = {
        CONFIG_FILE: json_bytes(config_document(ckpt.model_config, tokenizer)),
        tokenizer_file(tokenizer.level): json_bytes(tokenizer_document(tokenizer)),
        CARD_FILE: card.encode("utf-8"),
    }
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RnngenError(f"cannot create {out.parent}: {exc.strerror or exc}") from None
    _remove_stale_temps(out)
    tmp = _make_temp_folder(out)
    try:
        # Weights only: the optimizer and the training-state tensors stay behind.
        published = published_train_record(ckpt.train)
        save_checkpoint(tmp / WEIGHTS_FILE, Checkpoint(ckpt.model_config, tokenizer, published, ckpt.model_state()))
        for name, data in files.items():
            _write_new(tmp / name, data)
        load_checkpoint(tmp)  # the folder reads back, with every check a stranger's folder gets
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"folder": out, "files": [WEIGHTS_FILE, *files], "parameters": parameters}


def published_train_record(train: dict) -> dict:
    """``train`` with every file path cut to its name: a folder made to be shared must not
    tell strangers where the author keeps files (corpus sources, the parent, --val-file).
    Sizes and checksums stay, so the corpus can still be recognised."""
    record = dict(train)
    corpus = record.get("corpus")
    if isinstance(corpus, dict) and isinstance(corpus.get("sources"), list):
        record["corpus"] = {**corpus, "sources": [_name(s) for s in corpus["sources"]]}
    parent = record.get("parent")
    if isinstance(parent, dict) and "path" in parent:
        record["parent"] = {**parent, "path": _name(parent["path"])}
    config = record.get("config")
    if isinstance(config, dict) and isinstance(config.get("val_file"), str):
        record["config"] = {**config, "val_file": _name(config["val_file"])}
    return record


def _name(path: object) -> object:
    return Path(path).name if isinstance(path, str) else path


def _make_temp_folder(out: Path) -> Path:
    while True:
        tmp = out.with_name(f"{temp_prefix(out)}{os.getpid()}-{secrets.token_hex(8)}")
        try:
            os.mkdir(tmp, 0o777)  # the umask applies, as for any new folder
            return tmp
        except FileExistsError:
            continue
        except OSError as exc:
            raise RnngenError(f"cannot write in {out.parent}: {exc.strerror or exc}") from None


def _write_new(path: Path, data: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        with os.fdopen(os.open(path, flags, 0o666), "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise RnngenError(f"could not write {path.name}: {exc.strerror or exc}") from None


def _publish(tmp: Path, out: Path) -> None:
    """Rename the finished folder to ``out``: replaces nothing but an empty folder."""
    try:
        os.rename(tmp, out)
    except OSError as exc:
        if out.exists() or out.is_symlink():  # someone made or filled it meanwhile
            raise RnngenError(f"{out} changed while exporting and is not empty now; nothing was written") from None
        raise RnngenError(f"could not create {out}: {exc.strerror or exc}") from None
    try:
        fd = os.open(out.parent, os.O_RDONLY)
        try:
            os.fsync(fd)  # makes the rename durable
        finally:
            os.close(fd)
    except OSError:
        pass


def _remove_stale_temps(out: Path) -> None:
    """Temporary folders of exports to ``out`` whose process is gone (killed mid-export)."""
    prefix = temp_prefix(out)
    try:
        entries = [e for e in os.scandir(out.parent) if e.name.startswith(prefix)]
    except OSError:
        return
    for entry in entries:
        pid = temp_owner_pid(entry.name)
        if pid is None or pid == os.getpid() or not entry.is_dir(follow_symlinks=False) or _alive(pid):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process: leave its folder alone
    return True
