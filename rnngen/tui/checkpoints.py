"""The checkpoints the inspector works on, as plain Python: opening one (``Opened``) and
listing the ones in a folder (read from their headers, no tensors).

No Textual here: the app's workers call these functions in threads and post the
results back to the UI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rnngen.checkpoint import Checkpoint, load_checkpoint, read_header
from rnngen.errors import RnngenError
from rnngen.model import RNNLanguageModel
from rnngen.safe_json import JSONRefused
from rnngen.safe_json import loads as bounded_json
from rnngen.sampling import StepModel
from rnngen.tokenizers import Tokenizer
from rnngen.units import model_label


@dataclass
class Opened:
    """A checkpoint ready to sample from and inspect."""

    path: Path | None
    name: str
    model: RNNLanguageModel
    tokenizer: Tokenizer
    stepper: StepModel
    train: dict = field(default_factory=dict)  # the checkpoint's training metadata (its corpus record)

    @property
    def cell(self) -> str:
        return self.model.config.cell

    @property
    def summary(self) -> str:
        c = self.model.config
        return f"{c.label} {self.tokenizer.level}"


def open_loaded(ckpt: Checkpoint, name: str | None = None) -> Opened:
    model = ckpt.build_model().eval()
    path = Path(ckpt.path) if ckpt.path is not None else None
    name = name or (path.name if path else "checkpoint")
    return Opened(path, name, model, ckpt.tokenizer, StepModel(model), ckpt.train)


def open_checkpoint(path: Path | str) -> Opened:
    """Load and build a checkpoint (raises RnngenError with a one-line reason)."""
    return open_loaded(load_checkpoint(Path(path), with_training_state=False))


@dataclass(frozen=True)
class Listed:
    path: Path
    summary: str  # e.g. "LSTM 2x256 char, step 3000"
    size_bytes: int


def describe_header(path: Path) -> str:
    """A one-line summary from the checkpoint header (no tensors are read)."""
    _, metadata = read_header(path)
    if "rnngen.format" not in metadata:
        raise RnngenError(f"{path} is not an rnngen checkpoint")
    try:  # bounded: the folder may hold a stranger's file (deep nesting, huge integers)
        model = bounded_json(metadata.get("rnngen.model", "{}"))
        tok = bounded_json(metadata.get("rnngen.tokenizer", "{}"))
        train = bounded_json(metadata.get("rnngen.train", "{}"))
    except JSONRefused:
        raise RnngenError(f"{path} has malformed metadata") from None
    if not isinstance(model, dict) or not isinstance(tok, dict):
        raise RnngenError(f"{path} has malformed metadata")
    text = (
        f"{model_label(model.get('cell', '?'), model.get('layers', '?'), model.get('hidden', '?'))} "
        f"{tok.get('level', '?')}"
    )
    if isinstance(train, dict) and isinstance(train.get("step"), int):
        text += f", step {train['step']}"
    return text


def find_checkpoints(folder: Path) -> list[Listed]:
    """rnngen checkpoints under ``folder`` (recursively), newest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.rglob("*.safetensors"):
        try:
            summary = describe_header(path)
            stat = path.stat()
        except (RnngenError, OSError):
            continue
        found.append((stat.st_mtime, Listed(path, summary, stat.st_size)))
    found.sort(key=lambda item: (-item[0], str(item[1].path)))
    return [item for _, item in found]
