"""Shell completion (click's) for bash, zsh and fish, through the installed console script."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("rnngen")
if not SCRIPT.exists():
    SCRIPT = Path(shutil.which("rnngen") or "rnngen")


def _run(**env) -> str:
    result = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o nosort -F _rnngen_completion rnngen"),
                                           ("zsh", "#compdef rnngen"),
                                           ("fish", "complete --no-files --command rnngen")])
def test_source_scripts(shell, marker):
    assert marker in _run(_RNNGEN_COMPLETE=f"{shell}_source")


def test_bash_completes_commands_options_and_choices():
    commands = _run(_RNNGEN_COMPLETE="bash_complete", COMP_WORDS="rnngen ", COMP_CWORD="1")
    names = {line.split(",", 1)[1] for line in commands.splitlines()}
    assert {"train", "sample", "eval", "info", "plot", "export", "corpus"} <= names
    choices = _run(_RNNGEN_COMPLETE="bash_complete", COMP_WORDS="rnngen train x --level ", COMP_CWORD="4")
    assert choices.splitlines() == ["plain,char", "plain,word", "plain,bpe"]
    options = _run(_RNNGEN_COMPLETE="bash_complete", COMP_WORDS="rnngen train x --log", COMP_CWORD="3")
    assert "plain,--log-jsonl" in options.splitlines()
    files = _run(_RNNGEN_COMPLETE="bash_complete", COMP_WORDS="rnngen sample ", COMP_CWORD="2")
    assert files.strip() == "file,"  # checkpoints complete as file paths
