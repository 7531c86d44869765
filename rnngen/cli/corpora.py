"""``rnngen corpus list | get``: the built-in corpora."""

from __future__ import annotations

import click


@click.group()
def corpus() -> None:
    """Built-in corpora: list them, or fetch one into corpora/."""


@corpus.command(name="list")
def corpus_list() -> None:
    """Show the built-in corpora with size and source."""
    from rnngen.builtin_corpora import list_builtins

    for item in list_builtins():
        size = f"{item.size_bytes / 1e6:.1f} MB" if item.size_bytes is not None else "not fetched"
        click.echo(f"{item.name:<12} {size:>12}  {item.description} ({item.source})")


@corpus.command(name="get")
@click.argument("name")
def corpus_get(name: str) -> None:
    """Fetch built-in corpus NAME into corpora/ (cached)."""
    from rnngen.builtin_corpora import get_builtin

    path = get_builtin(name, progress=lambda msg: click.echo(msg, err=True))
    click.echo(str(path))
