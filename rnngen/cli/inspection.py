"""``rnngen inspect`` and ``rnngen tui``.

Both are thin shells: the numbers come from rnngen.probes, the screens from rnngen.tui.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from rnngen.cli.common import echo
from rnngen.errors import RnngenError
from rnngen.terminal_text import json_escape_controls


def _show(text: str) -> str:
    """Text on one line: line breaks, tabs and every other control character escaped."""
    return json_escape_controls(json.dumps(text, ensure_ascii=False))[1:-1] or "''"


def _token(token: str) -> str:
    """One token, visible even when it is a space."""
    return "␣" if token == " " else _show(token)


def _decay_words(ratio: float | None) -> str:
    if ratio is None:
        return "n/a (needs at least 3 tokens)"
    if ratio < 1e-3:
        verdict = "vanishes on the way back"
    elif ratio < 0.1:
        verdict = "fades on the way back"
    elif ratio <= 10:
        verdict = "survives the trip back"
    else:
        verdict = "grows on the way back (exploding?)"
    return f"{ratio:.3g}  ({verdict})"


def _read_input(text: str | None, file: Path | None, encoding: str) -> str:
    if (text is None) == (file is None):
        raise RnngenError("give the text to inspect with exactly one of --text or --file")
    if file is not None:
        try:
            text = file.read_text(encoding=encoding)
        except FileNotFoundError:
            raise RnngenError(f"file {file} does not exist") from None
        except IsADirectoryError:
            raise RnngenError(f"{file} is a folder, not a text file") from None
        except UnicodeDecodeError:
            raise RnngenError(f"{file} is not valid {encoding} text (try --encoding)") from None
        except OSError as exc:
            raise RnngenError(f"cannot read {file}: {exc.strerror or exc}") from None
    assert text is not None
    if not text:
        raise RnngenError("the text to inspect is empty")
    return text


@click.command()
@click.argument("ckpt", type=click.Path(path_type=Path))
@click.option("--text", default=None, help="The text to read.")
@click.option("--file", type=click.Path(path_type=Path), default=None, help="Read the text from this file.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as one JSON object.")
@click.option("--top-k", type=int, default=5, help="Next-token candidates recorded per token.")
@click.option(
    "--loss",
    type=click.Choice(["last", "mean"]),
    default="last",
    help="Gradient through time of the loss at the last token, or of the mean loss.",
)
@click.option("--max-tokens", type=int, default=1000, help="Inspect at most the last N tokens of the text.")
@click.option("--encoding", default="utf-8", help="Text encoding of --file.")
@click.option("--threads", type=int, default=1, help="CPU threads (1 is fastest for one window of small steps).")
def inspect(
    ckpt: Path,
    text: str | None,
    file: Path | None,
    as_json: bool,
    top_k: int,
    loss: str,
    max_tokens: int,
    encoding: str,
    threads: int,
) -> None:
    """Read a text with CKPT and show what happens inside: hidden states, gates,
    next-token guesses and the gradient flowing back through time.

    \b
    JSON keys (--json): tokens, token_ids, token_probs, entropy, top_k (per token,
    [token, probability] pairs for the NEXT token), hidden (per layer, tokens x units),
    cell (LSTM), gates (per layer, gate -> tokens x units), saturation,
    grad_through_time (per layer, ||dL/dh_t|| per token), grad_decay, loss, loss_value.

    \b
    Examples:
      rnngen inspect CKPT --text "ROMEO: What light"
      rnngen inspect CKPT --file scene.txt --loss mean
      rnngen inspect CKPT --text "To be" --json | jq '.grad_through_time[0]'
    """
    import torch

    from rnngen.checkpoint import load_checkpoint
    from rnngen.probes import inspect_text

    if top_k < 1:
        raise RnngenError("--top-k must be at least 1")
    if max_tokens < 1:
        raise RnngenError("--max-tokens must be at least 1")
    if threads < 1:
        raise RnngenError("--threads must be at least 1")
    torch.set_num_threads(threads)
    body = _read_input(text, file, encoding)
    loaded = load_checkpoint(ckpt, with_training_state=False)
    model = loaded.build_model().eval()
    record = inspect_text(model, loaded.tokenizer, body, top_k=top_k, loss=loss, max_tokens=max_tokens)
    if record.unknown:
        echo(
            f"note: {len(record.unknown)} word(s) are not in the vocabulary and read as <unk>: "
            f"{' '.join(record.unknown[:8])}",
            err=True,
        )
    if as_json:
        doc = {"checkpoint": str(ckpt), "level": loaded.tokenizer.level, **record.to_json()}
        click.echo(json_escape_controls(json.dumps(doc, ensure_ascii=False, allow_nan=False)))
        return
    _print_summary(ckpt, loaded, record)


def _print_summary(ckpt: Path, loaded, record) -> None:
    from rnngen.probe_stats import (
        gate_saturation,
        grad_decay_per_step,
        grad_decay_ratio,
        last_scored_index,
        most_active_units,
    )
    from rnngen.sparkline import mean, sparkline
    from rnngen.tokenizers import display_pieces

    m = loaded.model_config
    T = record.num_tokens
    echo(f"checkpoint   {ckpt}: {m.label}, {loaded.tokenizer.level} level")
    window = f"{T} tokens" + (f" (the last {T} of {T + record.offset})" if record.offset else "")
    echo(f"window       {window}")
    if record.loss_value is not None:
        what = (
            f"predicting the last token '{_token(record.tokens[-1])}'"
            if record.loss == "last"
            else "mean over the window"
        )
        echo(f"loss         {record.loss_value:.4f} nats, {what}")
    pieces = display_pieces(loaded.tokenizer, record.token_ids)
    echo("")
    echo(f'next token after "…{_show("".join(pieces[-30:]).lstrip()[-30:])}"  (entropy {record.entropy[-1]:.2f} nats)')
    for tok, p in record.top_k[-1]:
        echo(f"  {_token(tok):<12} {p:6.3f}  {'█' * max(1, round(p * 30)) if p >= 0.005 else '·'}")
    scored = [(p, t) for t, p in enumerate(record.token_probs) if p is not None]
    if scored:
        echo("")
        echo("least expected tokens (probability the model gave them)")
        for p, t in sorted(scored)[:5]:
            context = "".join(pieces[max(0, t - 12) : t]).lstrip()[-12:]
            echo(f"  {p:8.5f}  '{_token(record.tokens[t])}' after \"…{_show(context)}\"")
    for k in range(record.layers):
        echo("")
        echo(f"layer {k + 1} of {record.layers}")
        active = most_active_units(record.hidden[k], 5)
        echo("  most active units (mean |h|)  " + "  ".join(f"#{u}: {v:.2f}" for u, v in active))
        for name, values in record.gates[k].items():
            if name not in ("input", "forget", "output", "reset", "update"):
                continue
            low, high = gate_saturation(values)
            echo(
                f"  {name:<7} gate  mean {values.mean():.2f}; units mostly closed (<0.1 on over half "
                f"the steps): {(low > 0.5).sum()}, mostly open (>0.9): {(high > 0.5).sum()} "
                f"of {values.shape[1]}"
            )
        norms = record.grad_through_time[k]
        end = last_scored_index(norms)
        if end is None:
            echo("  gradient     none (the window needs at least 2 tokens)")
            continue
        ratio = grad_decay_ratio(norms)
        per_step = grad_decay_per_step(norms)
        label = f"||dL/dh_1|| / ||dL/dh_{end + 1}||"
        echo(f"  gradient     {label} = {_decay_words(ratio)}")
        window = norms[: end + 1]
        positive = window[window > 0]
        if per_step is not None and ratio:
            echo(
                f"               x{per_step:.3f} per step back; ||dL/dh_t|| from {positive.min():.2e} "
                f"to {positive.max():.2e}"
            )
        elif positive.size:
            echo(
                f"               ||dL/dh_t|| underflows to 0 (float32) on the {window.size - positive.size} "
                f"earliest step(s); the smallest non-zero is {positive.min():.2e}"
            )
        echo(f"               {sparkline(norms[: end + 1], 60, log=True, how=mean)}  (log scale, first token → last)")


@click.command()
@click.argument("ckpt", type=click.Path(path_type=Path), required=False)
@click.option("--prompt", default=None, help="Text to start generating from.")
@click.option("--length", type=int, default=200, help="New tokens per generation.")
@click.option("--seed", type=int, default=None, help="Random seed for reproducible samples.")
@click.option(
    "--checkpoints",
    "folder",
    type=click.Path(path_type=Path),
    default=Path("checkpoints"),
    help="Folder listed when no CKPT is given.",
)
@click.option("--threads", type=int, default=1, help="CPU threads (1 is fastest for one-token steps).")
@click.option(
    "--corpus",
    default=None,
    help="Training text for the copy check that marks copied stretches (default: the one the checkpoint records).",
)
@click.option("--web", is_flag=True, help="Serve the inspector to web browsers instead (needs rnngen[web]).")
@click.option("--host", default="127.0.0.1", show_default=True, help="With --web: the address to listen on.")
@click.option("--port", type=int, default=8000, show_default=True, help="With --web: the port (0: any free one).")
def tui(
    ckpt: Path | None,
    prompt: str | None,
    length: int,
    seed: int | None,
    folder: Path,
    threads: int,
    corpus: str | None,
    web: bool,
    host: str,
    port: int,
) -> None:
    """Sample and look inside a model interactively (without CKPT: pick one from a list).

    \b
    Views: 1 sample, 2 hidden states, 3 gates, 4 gradient through time; ? shows help,
    q quits. With --web, every browser tab that opens the printed URL gets its own
    inspector; Ctrl-C stops the server.
    """
    import torch

    from rnngen.checkpoint import load_checkpoint

    if length < 1 or length > 5000:
        raise RnngenError("--length must be between 1 and 5000")
    if threads < 1:
        raise RnngenError("--threads must be at least 1")
    _check_web_options(web, port)
    training_text = _copy_check_corpus(corpus)
    torch.set_num_threads(threads)
    loaded = load_checkpoint(ckpt, with_training_state=False) if ckpt is not None else None
    if loaded is not None and prompt:
        from rnngen.probes import encode_text

        encode_text(loaded.tokenizer, prompt)  # a prompt the model cannot read is a one-line error now
    if web:
        _serve_web(ckpt, prompt, length, seed, folder, threads, host, port, corpus)
        return
    from rnngen.tui.inspector.app import InspectApp

    app = InspectApp(loaded, checkpoints_dir=folder, prompt=prompt, length=length, seed=seed, corpus=training_text)
    app.run()
    code = app.return_code or 0
    if code:
        sys.exit(code)


def _copy_check_corpus(corpus: str | None):
    """``--corpus``: read now, so a corpus that cannot be read is a usage error (exit 2)."""
    if corpus is None:
        return None
    from rnngen.corpus import load_corpus

    try:
        return load_corpus(corpus)
    except RnngenError as exc:
        raise click.UsageError(f"--corpus: {exc}") from None


def _check_web_options(web: bool, port: int) -> None:
    if not web:
        context = click.get_current_context()
        for name in ("host", "port"):
            if context.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT:
                raise RnngenError(f"--{name} needs --web")
    if not 0 <= port <= 65535:
        raise RnngenError("--port must be between 0 and 65535")


def _serve_web(
    ckpt: Path | None,
    prompt: str | None,
    length: int,
    seed: int | None,
    folder: Path,
    threads: int,
    host: str,
    port: int,
    corpus: str | None = None,
) -> None:
    """``tui --web``: each browser tab runs this same command without --web (paths made absolute)."""
    from rnngen.tui import web

    args = [] if ckpt is None else [str(ckpt.resolve())]
    args += ["--checkpoints", str(folder.resolve()), "--length", str(length), "--threads", str(threads)]
    if prompt is not None:
        args.append(f"--prompt={prompt}")  # one token, even when the prompt starts with "-"
    if seed is not None:
        args += ["--seed", str(seed)]
    if corpus is not None:  # a path made absolute; a built-in name as it is
        args.append(f"--corpus={Path(corpus).resolve() if Path(corpus).exists() else corpus}")
    title = f"rnngen tui {ckpt.name if ckpt is not None else folder}"
    web.serve(args, host=host, port=port, title=title)
