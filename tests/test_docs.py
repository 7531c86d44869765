"""The generated command reference, docs/cli.md, matches the real --help texts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# The repository root is the nearest folder above this file that holds docs/gen_cli.py.
GENERATOR = next(
    p / "docs" / "gen_cli.py" for p in Path(__file__).resolve().parents if (p / "docs" / "gen_cli.py").is_file()
)


def _load_generator():
    spec = importlib.util.spec_from_file_location("rnngen_docs_gen_cli", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_matches_the_help_texts():
    problem = _load_generator().check()
    assert problem is None, problem


def test_every_test_file_the_docs_name_exists():
    """docs/guarantees.md names the test behind each promise: the names must not go stale."""
    import re

    root = GENERATOR.parent.parent
    pages = [root / "README.md", root / "benchmarks" / "README.md", *sorted((root / "docs").glob("*.md"))]
    named = {m for page in pages for m in re.findall(r"tests/[\w/]+\.py", page.read_text(encoding="utf-8"))}
    assert named, "the docs name no test files at all"
    missing = sorted(path for path in named if not (root / path).is_file())
    assert not missing, f"docs name test files that do not exist: {missing}"
