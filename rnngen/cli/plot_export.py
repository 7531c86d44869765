"""``rnngen plot`` (the curves of a --log-jsonl file) and ``rnngen export`` (LSTMVis, ONNX)."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from rnngen.errors import RnngenError

# ---- plot ---------------------------------------------------------------------------------


@click.command()
@click.argument("log", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--metric", type=click.Choice(["loss", "bpc"]), default="loss", help="Plot loss (nats/token) or bits per character."
)
@click.option(
    "--png",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Draw to this PNG file instead of the terminal (needs rnngen[plot]).",
)
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


@click.command()
@click.argument("ckpt", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["lstmvis", "onnx"]),
    required=True,
    help="lstmvis: hidden states of --text-file for LSTMVis (OUT is a folder); onnx: the network (OUT is a file).",
)
@click.option(
    "--text-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="lstmvis: the text whose hidden states are exported.",
)
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
        click.echo(
            f"{info['path']}  inputs {', '.join(info['inputs'])} -> outputs {', '.join(info['outputs'])}"
            f" (opset {info['opset']})"
        )
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
    click.echo(
        f"{out}: {info['tokens']} tokens, {len(info['tables'])} tables of {shape[0]} x {shape[1]} "
        "(states.hdf5, train.hdf5, words.dict, lstm.yml)"
    )
