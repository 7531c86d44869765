"""What a run needs before its first step: where checkpoints go, which device and precision,
and the encoded corpus (reused from the cache for big corpora)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from rnngen.atomic_files import create_exclusive
from rnngen.checkpoint import is_rnngen_checkpoint
from rnngen.checkpoint_lock import CheckpointLock, claim_new_path
from rnngen.config import TrainConfig
from rnngen.corpus import Corpus, load_corpus
from rnngen.corpus_cache import cache_key, load_encoded, save_encoded
from rnngen.data import Split, fit_and_encode, split_point
from rnngen.errors import RnngenError, setting
from rnngen.tokenizers import Tokenizer


def best_path_for(out: Path) -> Path:
    """Where the best-by-validation weights live next to the latest checkpoint."""
    name = out.name
    stem = name[: -len(".safetensors")] if name.endswith(".safetensors") else name
    return out.with_name(stem + ".best.safetensors")


def _default_names(corpus_name: str, level: str, cell: str, folder: Path) -> Iterator[Path]:
    """checkpoints/<corpus>-<level>-<cell>.safetensors, then -2, -3, ..."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in corpus_name) or "corpus"
    base = f"{safe}-{level}-{cell}"
    yield folder / f"{base}.safetensors"
    for n in itertools.count(2):
        yield folder / f"{base}-{n}.safetensors"


def default_out(corpus_name: str, level: str, cell: str, folder: Path = Path("checkpoints")) -> Path:
    """checkpoints/<corpus>-<level>-<cell>.safetensors, numbered so nothing is overwritten."""
    return next(p for p in _default_names(corpus_name, level, cell, folder) if not p.exists())


def claim_default_out(
    corpus_name: str, level: str, cell: str, folder: Path = Path("checkpoints")
) -> tuple[Path, CheckpointLock]:
    """:func:`default_out`'s name, locked for this run: runs started at once get different files."""
    return claim_new_path(_default_names(corpus_name, level, cell, folder))


def check_out_path(out: Path, *, resuming_from: Path | None) -> None:
    """Refuse before training starts if ``out`` cannot be written or is someone's file."""
    if out.exists():
        if out.is_dir():
            raise RnngenError(f"{setting('out')} {out} is a folder; give a file path ending in .safetensors")
        if not is_rnngen_checkpoint(out):
            raise RnngenError(
                f"{setting('out')} {out} exists and is not an rnngen checkpoint; refusing to overwrite it"
            )
        same = resuming_from is not None and out.resolve() == resuming_from.resolve()
        if not same:
            raise RnngenError(
                f"{setting('out')} {out} already holds a checkpoint; resume it with {setting('resume')} {out}, "
                f"or choose another {setting('out')}"
            )
    folder = out.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RnngenError(f"cannot create folder {folder}: {exc.strerror or exc}") from None
    try:
        # The very temporary file a save makes (a random name, O_EXCL: never a planted symlink);
        # one left by a SIGKILL here is tidied by the next save, like any other.
        probe, fd = create_exclusive(out)
        os.close(fd)
        probe.unlink()
    except OSError as exc:
        raise RnngenError(f"cannot write checkpoints to {folder}: {exc.strerror or exc}") from None


def pick_device(name: str) -> torch.device:
    """The torch device for ``--device``; a GPU that is not there is refused in one line.

    ``auto`` picks CUDA or the CPU, never MPS: the Apple GPU is used when asked for by name
    (no CI machine has one to test it on)."""
    if name == "cuda" and not torch.cuda.is_available():
        raise RnngenError(f"{setting('device')} cuda was asked for but no CUDA GPU is available")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RnngenError(f"{setting('device')} mps: this machine has no Apple GPU (MPS)")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """bf16 autocast where it pays: CPUs with AMX or AVX512-BF16, CUDA GPUs with bf16.

    Weights, optimizer state and the loss stay float32; only matmuls and the recurrent
    kernels run in bf16 (on AMX CPUs that is 2-3x the fp32 throughput).
    """
    if precision == "fp32":
        return None  # asks the hardware nothing
    return precision_dtype(precision, device.type, bf16_supported(device))


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` runs bf16 fast: AMX or AVX512-BF16 on a CPU, bf16 on a CUDA GPU
    (never on an Apple GPU: MPS trains in fp32)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "mps":
        return False
    cpu = getattr(torch, "cpu", None)
    return any(
        getattr(cpu, probe, lambda: False)() for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    )


def precision_dtype(precision: str, device_type: str, supported: bool) -> torch.dtype | None:
    """The autocast dtype for ``--precision`` given what the hardware probe found: fp32 never
    autocasts, auto uses bf16 where it is supported, bf16 is refused in one line where it is not."""
    if precision == "fp32":
        return None
    if precision == "bf16" and not supported:
        raise RnngenError(f"{setting('precision')} bf16 is not supported on this {device_type.upper()}")
    return torch.bfloat16 if supported else None


def encode_corpus(
    corpus: Corpus,
    level: str,
    cut: int,
    vocab_size: int | None,
    val_frac: float,
    *,
    text: str | None = None,
    cacheable: bool = True,
    note: Callable[[str], None] | None = None,
) -> tuple[Tokenizer, Split, Split]:
    """Fit and encode, or reuse the verified cached encoding of a big corpus (memory-mapped).

    ``note`` hears, in one line, about a damaged cache entry that is encoded again.
    """
    key = cache_key(corpus, level, vocab_size, val_frac) if cacheable else None
    chars = len(corpus.text if text is None else text)
    cached = load_encoded(key, chars=chars, note=note) if key else None
    if cached is not None:
        return cached
    tokenizer, train, val = fit_and_encode(level, corpus.text if text is None else text, cut, vocab_size)
    if key:
        save_encoded(key, tokenizer, train, val)
    return tokenizer, train, val


def training_texts(corpus: Corpus, config: TrainConfig) -> tuple[str, int, bool]:
    """The text to encode, where validation starts in it, and whether it may be cached.

    With ``val_file`` the validation text is that file, appended after the corpus (so
    one vocabulary covers both, as with a held-out tail); otherwise the corpus's
    last ``val_frac``.
    """
    if config.val_file is None:
        return corpus.text, split_point(corpus.text, config.val_frac), True
    try:
        val = load_corpus(config.val_file)
    except RnngenError as exc:
        raise RnngenError(f"validation file: {exc.marked}") from None
    return corpus.text + val.text, len(corpus.text), False
