"""The ``rnngen`` command line: a click group assembled from one module per command family.

    training.py     train (and the ranks ``train --nproc`` starts: launcher.py)
    sampling.py     sample
    novelty.py      novelty (and sample --novelty's report)
    checkpoints.py  eval, info
    corpora.py      corpus list | get
    inspection.py   inspect, tui
    unit_ranking.py units
    comparison.py   compare
    plot_export.py  plot, export
    serving.py      serve (the OpenAI-compatible server: rnngen/server/)

Every command is a thin shell over the core; nothing imports this package back.
"""

from __future__ import annotations

import sys

import click

from rnngen.cli import (
    checkpoints,
    comparison,
    corpora,
    inspection,
    novelty,
    plot_export,
    sampling,
    serving,
    training,
    unit_ranking,
)
from rnngen.cli.common import echo, flag
from rnngen.errors import RnngenError


class RnngenGroup(click.Group):
    """Every error becomes one line on stderr and a non-zero exit, never a traceback.

    rnngen's own errors exit 1, click's usage errors exit 2, Ctrl-C exits 130.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(130)
        except click.ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            echo(f"error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except RnngenError as exc:
            echo(f"error: {exc.render(flag)}", err=True)  # may quote a file name or a checkpoint's text
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=RnngenGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(package_name="rnngen")
def cli() -> None:
    """Train, sample and look inside character- and word-level RNN/LSTM/GRU text generators."""


for _command in (
    training.train,
    sampling.sample,
    novelty.novelty,
    checkpoints.eval_command,
    checkpoints.info,
    corpora.corpus,
    inspection.inspect,
    inspection.tui,
    unit_ranking.units,
    comparison.compare,
    plot_export.plot,
    plot_export.export,
    serving.serve,
):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli()
