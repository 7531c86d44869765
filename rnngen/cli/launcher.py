"""``rnngen train --nproc N``: run the same command again as N rank processes (rnngen/local_ranks.py)."""

from __future__ import annotations

import click

from rnngen.errors import RnngenError


def relaunch_args(ctx: click.Context, skip: tuple[str, ...] = ("nproc",)) -> list[str]:
    """The command line that reproduces what the user typed (minus ``skip``), for each rank."""
    args: list[str] = [ctx.info_name or "train"]
    for param in ctx.command.params:
        name = param.name
        if name in skip or ctx.get_parameter_source(name) in (click.core.ParameterSource.DEFAULT, None):
            continue
        value = ctx.params[name]
        if isinstance(param, click.Argument):
            args.append(str(value))
            continue
        longest = max(param.opts, key=len)
        is_flag = isinstance(param, click.Option) and param.is_flag
        if is_flag and param.secondary_opts:
            args.append(longest if value else max(param.secondary_opts, key=len))
        elif is_flag:
            if value:
                args.append(longest)
        else:
            args += [longest, str(value)]
    return args


def launch_distributed(ctx: click.Context, params: dict) -> int:
    from rnngen.local_ranks import launch

    if params["nproc"] < 1:
        raise RnngenError("--nproc must be at least 1")
    if params["tui"]:
        raise RnngenError("--tui cannot watch a multi-process run; drop --tui or --nproc")
    # The launcher holds the checkpoint's lock for its ranks: a second job on the same path is
    # refused here, before any rank starts (rank 0 claims a default name itself).
    from rnngen.checkpoint_lock import held_for_children

    written = params["out"] or (params["resume"] if params["resume"] and params["resume"].exists() else None)
    with held_for_children(written):
        return launch(params["nproc"], relaunch_args(ctx), threads=params["threads"])
