"""Corpora: what training reads, given as a text file, a folder of ``*.txt`` files or the
name of a built-in corpus.

Reading and validating files is text_files.py; building the built-in corpora
(``shakespeare``, ``python``) is builtin_corpora.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rnngen.builtin_corpora import BUILTINS, get_builtin
from rnngen.errors import RnngenError
from rnngen.text_files import is_hidden, read_text_file, walk_sorted

__all__ = ["Corpus", "load_corpus", "read_text_file"]


@dataclass(frozen=True)
class Corpus:
    """Training text and where it came from."""

    text: str  # the whole corpus, newlines normalised to "\n"
    name: str  # short name for default checkpoint names: file stem, folder or built-in name
    sources: tuple[Path, ...]  # the files read


def load_corpus(spec: str | Path, encoding: str = "utf-8") -> Corpus:
    """Load a corpus from a text file, a folder of ``*.txt`` files or a built-in name.

    A folder contributes every ``*.txt`` file below it (hidden files and folders
    skipped), sorted by relative path, joined with ``"\\n"``.  A path that exists wins
    over a built-in of the same name.
    """
    if not str(spec).strip():
        raise RnngenError("no corpus given: pass a text file, a folder or a built-in corpus name")
    path = Path(spec)
    if path.is_dir():
        return _load_folder(path, encoding)
    if path.exists():
        return Corpus(read_text_file(path, encoding), path.stem, (path,))
    name = str(spec)
    if name in BUILTINS:
        cached = get_builtin(name)
        return Corpus(read_text_file(cached), name, (cached,))
    raise RnngenError(
        f"no such file or folder: {spec} (and no built-in corpus of that name; "
        f"built-ins: {', '.join(sorted(BUILTINS))})"
    )


def _load_folder(folder: Path, encoding: str) -> Corpus:
    files = _txt_files(folder)
    if not files:
        raise RnngenError(f"folder {folder} has no *.txt files; put the text in .txt files or give one file")
    texts = [read_text_file(f, encoding, allow_empty=True) for f in files]
    text = "\n".join(texts)
    if text.isspace() or not text:
        raise RnngenError(f"corpus {folder} is empty: its {len(files)} *.txt files hold only whitespace")
    return Corpus(text, folder.resolve().name, tuple(files))


def _txt_files(folder: Path) -> list[Path]:
    """``*.txt`` files below ``folder``, skipping hidden ones, sorted by relative path."""
    return [folder.joinpath(*parts) for parts in walk_sorted(folder, ".txt", is_hidden)]
