"""A failure is one clean line; a folder is unchanged."""

from __future__ import annotations


def snapshot(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def assert_clean_failure(result, match: str):
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert match.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in result.output
