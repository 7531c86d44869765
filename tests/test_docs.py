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
