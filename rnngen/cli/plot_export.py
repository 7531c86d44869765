"""``rnngen plot`` (the curves of a --log-jsonl file) and ``rnngen export`` (LSTMVis, ONNX, HF folders)."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from rnngen.cli.common import echo
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
    type=click.Choice(["lstmvis", "onnx", "hf"]),
    required=True,
    help="lstmvis: hidden states of --text-file for LSTMVis (OUT is a folder); onnx: the network (OUT is a file); "
    "hf: a Hugging Face-style model folder (OUT: a new or empty folder) with a model card.",
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
    """Export CKPT for other tools: LSTMVis hidden states, ONNX, or a Hugging Face-style folder.

    The hf folder holds model.safetensors, config.json, the tokenizer (tokenizer.json for
    BPE, vocab.json for char and word) and a README.md model card; every rnngen command
    and rnngen.load() take the folder wherever they take a checkpoint.

    \b
    Examples:
      rnngen export CKPT --text-file val.txt --format lstmvis lstmvis/shakespeare
      rnngen export CKPT --format onnx model.onnx
      rnngen export CKPT --format hf models/shakespeare-char
    """
    from rnngen.checkpoint import load_checkpoint
    from rnngen.export import export_lstmvis, export_onnx

    if fmt == "hf":
        _export_hf(ckpt, out, text_file, max_tokens)
        return
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


def _export_hf(ckpt: Path, out: Path, text_file: Path | None, max_tokens: int | None) -> None:
    from rnngen.checkpoint import load_checkpoint
    from rnngen.hf_export import check_target, export_hf

    if text_file is not None or max_tokens is not None:
        raise RnngenError("--text-file and --max-tokens apply to --format lstmvis only")
    check_target(out)  # a taken OUT is refused before the checkpoint is even read
    info = export_hf(load_checkpoint(ckpt, with_training_state=False), out, source=ckpt.name)
    echo(f"{out}: {', '.join(info['files'])} ({info['parameters']:,} parameters)")
