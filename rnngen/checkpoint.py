"""One ``.safetensors`` file per checkpoint: tensors plus JSON metadata, written atomically.

Tensor names:
    <state_dict name>          model weights (``head.weight`` is omitted when tied)
    optim.exp_avg.<name>       AdamW first moments        } only in resumable
    optim.exp_avg_sq.<name>    AdamW second moments       } checkpoints (plain
    train.state.<i>            hidden state carried       } SGD keeps no moments)
                               between training windows   }
    train.rng                  torch's CPU random-number-generator state

Metadata (strings, each a JSON document): ``rnngen.format``, ``rnngen.model``,
``rnngen.tokenizer``, ``rnngen.train``, and ``rnngen.checksum`` (SHA-256 over the
other metadata and every tensor, so a flipped bit is refused rather than loaded).

Loading never unpickles anything, and the header is checked (size, dtypes, shapes,
offsets inside the file) before any tensor memory is allocated, so a file from a
stranger is safe to open.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from rnngen import model_folder
from rnngen.atomic_files import temp_owner_pid, temp_prefix, write_atomically
from rnngen.errors import RnngenError
from rnngen.model import ModelConfig, RNNLanguageModel
from rnngen.safe_json import JSONRefused
from rnngen.safe_json import loads as bounded_json
from rnngen.tokenizers import Tokenizer, tokenizer_from_json

# 1: the first format. 2: adds the mandatory ``rnngen.checksum`` (format-1 files still load, unchecked).
# 3: adds safetensors' standard ``"format": "pt"`` key, inside the checksum (so an older rnngen,
# whose checksum leaves it out, says "upgrade" rather than "corrupt"); format-2 files still load.
FORMAT_VERSION = 3
# The key Hugging Face tooling reads to know the tensors are PyTorch's (transformers writes it too).
SAFETENSORS_FORMAT = ("format", "pt")
MAX_HEADER_BYTES = 64 * 1024 * 1024  # vocabularies live in the header; 64 MB is plenty
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
OPTIM_PREFIX = "optim."
RNG_KEY = "train.rng"  # saved with every resumable checkpoint, whatever the optimizer
TRAIN_PREFIX = "train."
# SHA-256 over rnngen's metadata and every tensor's name, dtype, shape and bytes: a bit
# flipped on disk (or in transit) is refused instead of silently changing a weight.
CHECKSUM_KEY = "rnngen.checksum"


@dataclass
class Checkpoint:
    """A checkpoint read from disk (or about to be written)."""

    model_config: ModelConfig
    tokenizer: Tokenizer
    train: dict
    tensors: dict[str, torch.Tensor]
    path: Path | None = None
    format_version: int = FORMAT_VERSION
    extra: dict = field(default_factory=dict)

    def model_state(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.tensors.items() if not k.startswith((OPTIM_PREFIX, TRAIN_PREFIX))}

    def build_model(self) -> RNNLanguageModel:
        """Rebuild the network and load its weights, checking every shape first."""
        model = RNNLanguageModel(self.model_config)
        expected = dict(model.state_dict())
        state = self.model_state()
        if self.model_config.tie:
            state = dict(state)
            state.setdefault("head.weight", state.get("embedding.weight"))  # type: ignore[arg-type]
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        if missing or unexpected:
            raise RnngenError(
                f"{self._name()}: weights do not match the model config "
                f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
        for name, tensor in expected.items():
            if tuple(state[name].shape) != tuple(tensor.shape):
                raise RnngenError(
                    f"{self._name()}: tensor {name} has shape {tuple(state[name].shape)}, "
                    f"the model config needs {tuple(tensor.shape)}"
                )
        model.load_state_dict({k: v.float() for k, v in state.items()})
        return model

    @property
    def resumable(self) -> bool:
        return any(k.startswith(OPTIM_PREFIX) or k == RNG_KEY for k in self.tensors)

    def _name(self) -> str:
        return str(self.path) if self.path else "checkpoint"


def save_checkpoint(path: Path, ckpt: Checkpoint) -> None:
    """Write ``ckpt`` to ``path`` atomically: a crash leaves the old file or the new one."""
    path = Path(path)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in ckpt.tensors.items()}
    if ckpt.model_config.tie:
        tensors.pop("head.weight", None)  # the same tensor as embedding.weight
    metadata = {
        SAFETENSORS_FORMAT[0]: SAFETENSORS_FORMAT[1],
        "rnngen.format": json.dumps(FORMAT_VERSION),
        "rnngen.model": json.dumps(ckpt.model_config.to_json()),
        "rnngen.tokenizer": json.dumps(ckpt.tokenizer.to_json(), ensure_ascii=False),
        "rnngen.train": json.dumps(ckpt.train),
    }
    metadata[CHECKSUM_KEY] = json.dumps({"sha256": content_digest(tensors, metadata)})
    data = save_bytes(tensors, metadata=metadata)
    try:
        # A random temporary name made with O_EXCL (never a planted symlink), fsynced, then
        # renamed over the old file; the temporary file is removed on any failure.
        write_atomically(path, data)
    except OSError as exc:
        raise RnngenError(f"could not write checkpoint {path}: {exc.strerror or exc}") from None
    del data
    _fsync_dir(path.parent)
    _remove_stale_temps(path)


def content_digest(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> str:
    """SHA-256 of rnngen's metadata and of every tensor (name, dtype, shape, bytes)."""
    h = hashlib.sha256()

    def put(data: bytes) -> None:
        h.update(struct.pack("<Q", len(data)))
        h.update(data)

    covered = (k for k in metadata if (k.startswith("rnngen.") or k == SAFETENSORS_FORMAT[0]) and k != CHECKSUM_KEY)
    for key in sorted(covered):
        put(key.encode("utf-8"))
        put(metadata[key].encode("utf-8", "surrogatepass"))
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        put(name.encode("utf-8", "surrogatepass"))
        put(f"{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


_OLD_TEMP_PID = re.compile(r"\.tmp-(\d+)$")  # ".<name>.tmp-<pid>": older versions' names


def _temp_pid(name: str) -> int | None:
    """The writer's pid in a temporary file's name, today's or an older version's."""
    pid = temp_owner_pid(name)
    if pid is None and (match := _OLD_TEMP_PID.search(name)):
        pid = int(match.group(1))
    return pid


def _remove_stale_temps(path: Path) -> None:
    """Delete temporary files left next to ``path`` by writers that were killed (SIGKILL, power cut)."""
    prefix = temp_prefix(path)
    try:
        names = [n for n in os.listdir(path.parent) if n.startswith(prefix)]
    except OSError:
        return
    for name in names:
        pid = _temp_pid(name)
        if pid is None or pid == os.getpid() or _pid_alive(pid):
            continue
        _remove_quietly(path.parent / name)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or not a pid we can ask about: leave its file alone
    return True


def read_header(path: Path) -> tuple[dict, dict]:
    """Read and validate a safetensors header: (tensor entries, metadata).

    Checks, before anything is allocated: the header length against the file size and
    a cap, JSON validity, dtypes, that each shape's byte count matches its offsets,
    and that every tensor lies inside the file.
    """
    path = Path(path)
    with _open_checkpoint(path) as handle:
        return _read_header_from(path, handle)


def _open_checkpoint(path: Path):
    try:
        return open(path, "rb")
    except OSError as exc:
        raise _os_error(path, exc) from None


def _os_error(path: Path, exc: OSError) -> RnngenError:
    if isinstance(exc, FileNotFoundError):
        return RnngenError(f"checkpoint {path} does not exist")
    if isinstance(exc, IsADirectoryError):
        return RnngenError(f"{path} is a folder, not a checkpoint file")
    if isinstance(exc, PermissionError):
        return RnngenError(f"cannot read checkpoint {path}: permission denied")
    return RnngenError(f"cannot read checkpoint {path}: {exc.strerror or exc}")


def _read_header_from(path: Path, handle) -> tuple[dict, dict]:
    name = str(path)
    try:
        size = os.fstat(handle.fileno()).st_size
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise RnngenError(f"{name} is not a checkpoint (too short to be a safetensors file)")
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len == 0 or header_len > MAX_HEADER_BYTES or 8 + header_len > size:
            raise RnngenError(f"{name} is not a valid safetensors checkpoint (bad header length)")
        raw = handle.read(header_len)
    except OSError as exc:
        raise _os_error(path, exc) from None
    return _parse_header(name, raw, size - 8 - header_len)


def _read_whole(path: Path, handle) -> bytes:
    """The file's bytes from the handle its header was read from: one open file is one
    snapshot, so a writer's ``os.replace`` meanwhile cannot pair one version's metadata
    with another version's tensors."""
    try:
        size = os.fstat(handle.fileno()).st_size
        handle.seek(0)
        data = handle.read()
    except OSError as exc:
        raise _os_error(path, exc) from None
    if len(data) != size:
        raise RnngenError(f"{path} changed while it was being read")
    return data


def _parse_header(name: str, raw: bytes, data_len: int) -> tuple[dict, dict]:
    try:
        header = bounded_json(raw)
    except JSONRefused as exc:
        reason = "unreadable header" if str(exc) == "is not valid JSON" else f"its header {exc}"
        raise RnngenError(f"{name} is not a valid safetensors checkpoint ({reason})") from None
    if not isinstance(header, dict):
        raise RnngenError(f"{name} is not a valid safetensors checkpoint (header is not an object)")
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise RnngenError(f"{name} has malformed metadata")
    for tensor_name, entry in header.items():
        _check_entry(name, tensor_name, entry, data_len)
    return header, metadata


def _check_entry(name: str, tensor_name: str, entry: object, data_len: int) -> None:
    bad = RnngenError(f"{name}: tensor {tensor_name!r} has a malformed header entry")
    if not isinstance(entry, dict):
        raise bad
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in _DTYPE_BYTES or not isinstance(shape, list) or not isinstance(offsets, list):
        raise bad
    if len(offsets) != 2 or not all(isinstance(o, int) and o >= 0 for o in offsets):
        raise bad
    if not all(isinstance(d, int) and 0 <= d < 2**40 for d in shape) or len(shape) > 8:
        raise bad
    begin, end = offsets
    if end < begin or end > data_len or (end - begin) != math.prod(shape) * _DTYPE_BYTES[dtype]:
        raise RnngenError(f"{name}: tensor {tensor_name!r} does not fit the file (truncated or corrupt)")


def is_rnngen_checkpoint(path: Path) -> bool:
    """True if ``path`` is a readable safetensors file carrying rnngen's metadata (or a model
    folder whose weights file is one)."""
    if model_folder.is_model_folder(Path(path)):
        path = Path(path) / model_folder.WEIGHTS_FILE
    try:
        _, metadata = read_header(path)
    except RnngenError:
        return False
    return "rnngen.format" in metadata


def load_checkpoint(path: Path | str, *, with_training_state: bool = True) -> Checkpoint:
    """Read and validate a checkpoint file or an exported model folder; every problem is a
    one-line RnngenError."""
    path = Path(path)
    if path.is_dir():
        return _load_model_folder(path)
    with _open_checkpoint(path) as handle:
        return _load_from(path, handle, with_training_state)


def _load_from(path: Path, handle, with_training_state: bool) -> Checkpoint:
    header, metadata = _read_header_from(path, handle)
    if "rnngen.format" not in metadata:
        raise RnngenError(f"{path} is a safetensors file but not an rnngen checkpoint")
    version = _json_field(path, metadata, "rnngen.format")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RnngenError(f"{path}: rnngen.format is malformed")
    if version > FORMAT_VERSION:
        raise RnngenError(
            f"{path} was written by a newer rnngen (format {version}; this one reads up to "
            f"{FORMAT_VERSION}): upgrade rnngen"
        )
    try:
        config = ModelConfig.from_json(_json_field(path, metadata, "rnngen.model"))
        tokenizer = tokenizer_from_json(_json_field(path, metadata, "rnngen.tokenizer"))
    except RnngenError as exc:
        if str(exc).startswith(str(path)):
            raise
        # The file's own values, named as the metadata spells them (not as options).
        raise RnngenError(f"{path}: {exc}") from None
    train = _json_field(path, metadata, "rnngen.train")
    if not isinstance(train, dict):
        raise RnngenError(f"{path}: rnngen.train metadata is malformed")
    if tokenizer.vocab_size != config.vocab_size:
        raise RnngenError(
            f"{path}: the vocabulary has {tokenizer.vocab_size} tokens but the model expects {config.vocab_size}"
        )
    _check_model_shapes(path, header, config)
    try:
        tensors = load_bytes(_read_whole(path, handle))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise RnngenError(f"{path} could not be read: {str(exc).splitlines()[0]}") from None
    _verify_checksum(path, metadata, tensors, required=version >= 2)
    if version >= 3 and metadata.get(SAFETENSORS_FORMAT[0]) != SAFETENSORS_FORMAT[1]:
        raise RnngenError(f'{path}: metadata format must be "pt" (safetensors\' PyTorch marker)')
    if not with_training_state:
        tensors = {k: v for k, v in tensors.items() if not k.startswith((OPTIM_PREFIX, TRAIN_PREFIX))}
    for key, tensor in tensors.items():
        if tensor.is_floating_point() and not key.startswith(TRAIN_PREFIX) and not torch.isfinite(tensor).all():
            raise RnngenError(f"{path}: tensor {key} holds NaN or infinite values")
    return Checkpoint(config, tokenizer, train, tensors, path=path, format_version=version)


def _load_model_folder(folder: Path) -> Checkpoint:
    """A Hugging Face-style folder (rnngen/model_folder.py): its weights file is a weights-only
    checkpoint, and its config.json and tokenizer file must agree with it."""
    loaded = load_checkpoint(model_folder.weights_path(folder), with_training_state=False)
    model_folder.check_folder(folder, loaded.model_config, loaded.tokenizer)
    loaded.path = folder
    return loaded


def _verify_checksum(path: Path, metadata: dict, tensors: dict[str, torch.Tensor], *, required: bool) -> None:
    if CHECKSUM_KEY not in metadata:
        if required:
            raise RnngenError(f"{path} is corrupt: its checksum is missing")
        return  # format 1: written before checksums existed
    doc = _json_field(path, metadata, CHECKSUM_KEY)
    if not isinstance(doc, dict) or not isinstance(doc.get("sha256"), str):
        raise RnngenError(f"{path}: metadata {CHECKSUM_KEY} is malformed")
    if doc["sha256"] != content_digest(tensors, metadata):
        raise RnngenError(f"{path} is corrupt: its contents do not match the checksum written with it")


def _check_model_shapes(path: Path, header: dict, config: ModelConfig) -> None:
    """Compare the header's shapes with what the config implies, before loading any data."""
    # Every layer has four tensors: a claim of more layers than the file has tensors is
    # refused before even a shape-only model (whose cost grows with the layers) is built.
    if config.layers * 4 > len(header):
        raise RnngenError(
            f"{path}: the model metadata claims {config.layers} layers but the file holds {len(header)} tensors"
        )
    stored = sum(entry["data_offsets"][1] - entry["data_offsets"][0] for entry in header.values())
    at_least = config.vocab_size * config.embed + config.layers * config.hidden * config.hidden
    if at_least > stored:  # each weight takes at least one byte
        raise RnngenError(f"{path}: the model metadata claims more weights than the file holds")
    try:
        expected = {k: tuple(v.shape) for k, v in _shape_model(config).state_dict().items()}
    except (RuntimeError, ValueError, OverflowError) as exc:
        raise RnngenError(f"{path}: the model metadata describes an impossible model ({exc})") from None
    if config.tie:
        expected.pop("head.weight")
    for name, shape in expected.items():
        if name not in header:
            raise RnngenError(f"{path}: tensor {name} is missing")
        got = tuple(header[name]["shape"])
        if got != shape:
            raise RnngenError(f"{path}: tensor {name} has shape {got} but the model metadata implies {shape}")


def _shape_model(config: ModelConfig) -> RNNLanguageModel:
    # Built on the meta device: shapes only, no memory, however large the config claims to be.
    with torch.device("meta"):
        return RNNLanguageModel(config)


def _json_field(path: Path, metadata: dict, key: str):
    if key not in metadata:
        raise RnngenError(f"{path}: metadata {key} is missing")
    try:
        return bounded_json(metadata[key])
    except JSONRefused as exc:
        raise RnngenError(f"{path}: metadata {key} {exc}") from None


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not possible on every platform, which is fine.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
