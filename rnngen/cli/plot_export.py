"""More commands: ``rnngen plot`` (metrics) and ``rnngen export`` (interchange), plus the
``train --nproc`` launcher. Registered by the last line of cli.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from rnngen.cli import cli
from rnngen.errors import RnngenError


# ---- train --nproc N ---------------------------------------------------------------------


def relaunch_args(ctx: click.Context, skip: tuple[str, ...] = ("nproc",)) -> list[str]:
    """The command line that reproduces what the user typed (minus ``skip``), for torchrun."""
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
        if param.is_flag and param.secondary_opts:
            args.append(longest if value else max(param.secondary_opts, key=len))
        elif param.is_flag:
            if value:
                args.append(longest)
        else:
            args += [longest, str(value)]
    return args


def launch_distributed(ctx: click.Context, params: dict) -> int:
    from rnngen.distributed import launch

    if params["nproc"] < 1:
        raise RnngenError("--nproc must be at least 1")
    if params["tui"]:
        raise RnngenError("--tui cannot watch a multi-process run; drop --tui or --nproc")
    return launch(params["nproc"], relaunch_args(ctx), threads=params["threads"])


# ---- plot ---------------------------------------------------------------------------------


@cli.command()
@click.argument("log", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--metric", type=click.Choice(["loss", "bpc"]), default="loss",
              help="Plot loss (nats/token) or bits per character.")
@click.option("--png", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Draw to this PNG file instead of the terminal (needs rnngen[plot]).")
@click.option("--width", type=int, default=None, show_default="terminal width", help="Chart width in columns.")
@click.option("--height", type=int, default=18, help="Chart height in rows.")
def plot(log: Path, metric: str, png: Path | None, width: int | None, height: int) -> None:
    """Draw the loss curves of a --log-jsonl file, in the terminal or to a PNG.

    \b
    Examples:
      rnngen train shakespeare --time 5m --log-jsonl run.jsonl
      rnngen plot run.jsonl
      rnngen plot run.jsonl --metric bpc --png curves.png
    """
    from rnngen.metrics import plot_png, read_log, render_chart, series, summary

    records = read_log(log)
    if png is not None:
        plot_png(records, png, metric=metric, title=log.name)
        click.echo(str(png))
        return
    if width is None:
        width = min(shutil.get_terminal_size((100, 24)).columns, 160)
    if width < 20 or height < 4:
        raise RnngenError("--width must be at least 20 and --height at least 4")
    train, val = series(records, metric)
    click.echo(f"{log.name}: {summary(records)}")
    for line in render_chart(train, val, width=width, height=height, label=metric):
        click.echo(line)


# ---- export -------------------------------------------------------------------------------


@cli.command()
@click.argument("ckpt", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["lstmvis", "onnx"]), required=True,
              help="lstmvis: hidden states of --text-file for LSTMVis (OUT is a folder); onnx: the network (OUT is a file).")
@click.option("--text-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="lstmvis: the text whose hidden states are exported.")
@click.option("--max-tokens", type=int, default=None, help="lstmvis: export at most this many tokens of the text.")
@click.option("--encoding", default="utf-8", help="Text encoding of --text-file.")
def export(ckpt: Path, out: Path, fmt: str, text_file: Path | None, max_tokens: int | None, encoding: str) -> None:
    """Export CKPT for other tools: LSTMVis hidden states, or ONNX.

    \b
    Examples:
      rnngen export CKPT --text-file val.txt --format lstmvis lstmvis/shakespeare
      rnngen export CKPT --format onnx model.onnx
    """
    from rnngen.checkpoint import load_checkpoint
    from rnngen.export import export_lstmvis, export_onnx

    loaded = load_checkpoint(ckpt, with_training_state=False)
    model = loaded.build_model()
    if fmt == "onnx":
        if text_file is not None:
            raise RnngenError("--text-file applies to --format lstmvis only")
        info = export_onnx(model, out)
        click.echo(f"{info['path']}  inputs {', '.join(info['inputs'])} -> outputs {', '.join(info['outputs'])}"
                   f" (opset {info['opset']})")
        return
    if text_file is None:
        raise RnngenError("--format lstmvis needs --text-file: the text whose hidden states to export")
    try:
        text = text_file.read_text(encoding=encoding)
    except FileNotFoundError:
        raise RnngenError(f"--text-file {text_file} does not exist") from None
    except (OSError, UnicodeDecodeError, LookupError) as exc:
        raise RnngenError(f"cannot read --text-file {text_file}: {exc}") from None
    if max_tokens is not None:
        if max_tokens < 1:
            raise RnngenError("--max-tokens must be at least 1")
        ids = loaded.tokenizer.encode(text)
        text = loaded.tokenizer.decode(ids[:max_tokens]) if ids.size > max_tokens else text
    info = export_lstmvis(model, loaded.tokenizer, text, out, name=ckpt.stem)
    shape = next(iter(info["tables"].values()))
    click.echo(f"{out}: {info['tokens']} tokens, {len(info['tables'])} tables of {shape[0]} x {shape[1]} "
               "(states.hdf5, train.hdf5, words.dict, lstm.yml)")
