"""``rnngen corpus list | get``: the built-in corpora."""

from __future__ import annotations

import os

import click


@click.group()
def corpus() -> None:
    """Built-in corpora: list them, or fetch one into the user's cache folder.

    They are stored in corpora/ under $RNNGEN_HOME, else under the user's cache folder
    (~/.cache/rnngen on Linux); `rnngen corpus list` names it.
    """


@corpus.command(name="list")
def corpus_list() -> None:
    """Show the built-in corpora and the folder they are stored in."""
    from rnngen.builtin_corpora import corpora_dir, list_builtins

    click.echo(f"stored in {corpora_dir()} ({_chosen_by()})")
    for item in list_builtins():
        size = f"{item.size_bytes / 1e6:.1f} MB" if item.size_bytes is not None else "not fetched"
        click.echo(f"{item.name:<12} {size:>12}  {item.description} ({item.source})")


@corpus.command(name="get")
@click.argument("name")
def corpus_get(name: str) -> None:
    """Fetch built-in corpus NAME (once) into the corpora folder."""
    from rnngen.builtin_corpora import get_builtin

    path = get_builtin(name, progress=lambda msg: click.echo(msg, err=True))
    click.echo(str(path))


def _chosen_by() -> str:
    """Which setting chose the corpora folder, as ``corpus list`` says it."""
    if os.environ.get("RNNGEN_CORPORA"):
        return "set by RNNGEN_CORPORA"
    if os.environ.get("RNNGEN_HOME"):
        return "corpora/ in RNNGEN_HOME"
    return "the user cache folder; set RNNGEN_HOME to move it"
