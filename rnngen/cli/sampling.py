"""``rnngen sample``: stream text from a checkpoint."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from rnngen.cli.common import echo, flag, given
from rnngen.cli.novelty import novelty_option, report_novelty
from rnngen.errors import RnngenError
from rnngen.terminal_text import is_terminal, plain_text, visible_controls


def _stops(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    if any(not v for v in value):
        raise click.BadParameter("needs a non-empty text, e.g. --stop $'\\n\\n' (a blank line)", ctx, param)
    return value


def _positive(what: str):
    def check(ctx: click.Context, param: click.Parameter, value):
        if value is not None and not (value > 0 and value != float("inf")):
            raise click.BadParameter(f"must be {what}, not {value}", ctx, param)
        return value

    return check


def _read_prime_file(path: Path) -> str:
    from rnngen.text_files import read_text_file

    try:
        text = read_text_file(path, allow_empty=True)
    except RnngenError as e:
        raise click.BadParameter(str(e), param_hint="'--prime-file'") from None
    if not text:
        raise click.BadParameter(f"{path} is empty; give it the text to start from", param_hint="'--prime-file'")
    return text


@click.command()
@click.argument("ckpt", type=click.Path(path_type=Path))
@click.option("--temp", type=float, default=0.8, help="Temperature: lower is safer, higher is wilder; 0 = argmax.")
@click.option("--top-k", type=int, default=0, help="Sample only from the K most likely tokens (0 = off).")
@click.option("--top-p", type=float, default=1.0, help="Sample from the smallest set holding probability P (1 = off).")
@click.option("--prime", default="", help="Text to start from; the output begins with it.")
@click.option(
    "--prime-file",
    type=click.Path(path_type=Path, dir_okay=True),
    default=None,
    help="Start from the text of this file (checked like a corpus: missing, binary or undecodable is refused).",
)
@click.option("--length", type=int, default=500, help="New tokens to generate (at most, with --stop).")
@click.option("--seed", type=int, default=None, help="Random seed for reproducible samples.")
@click.option(
    "--num", type=int, default=1, help="Independent samples, generated as one batch (with --beam: the N best beams)."
)
@click.option(
    "--stop",
    "stops",
    multiple=True,
    callback=_stops,
    help="End a sample when it produces this text (repeatable; e.g. --stop $'\\n\\n' for a blank line).",
)
@click.option("--stop-keep", is_flag=True, help="Keep the stop text at the end of the sample (default: cut it).")
@click.option(
    "--repetition-penalty",
    type=float,
    default=None,
    callback=_positive("more than 0"),
    help="CTRL-style: divide positive logits (multiply negative ones) of recently seen tokens by F; 1 = off, 1.2 is mild.",
)
@click.option(
    "--penalty-window",
    type=int,
    default=64,
    callback=_positive("at least 1"),
    help="How many of the last tokens (prime included) --repetition-penalty looks at.",
)
@click.option(
    "--beam",
    type=int,
    default=None,
    callback=_positive("at least 1"),
    help="Beam search with N beams: the most likely text (mean log-probability per token); no randomness, "
    "so not with --temp/--top-k/--top-p.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "jsonl"]),
    default="text",
    help="jsonl: one JSON record per sample: text, seed, settings, and per token its text, id, the model's "
    "probability for it (temperature 1) and the entropy in nats.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(),  # a str: pathlib would drop the trailing / that asks for a folder
    default=None,
    help="Also write the samples to this new file (separated by lines of ---), or, for a folder (an existing one "
    "or a name ending in /), one new file per sample named by the seed. Never overwrites.",
)
@click.option(
    "--color",
    is_flag=True,
    help="On a terminal, shade each new token by the probability the model gave it: red (unlikely), orange, "
    "yellow, plain (likely). Off when stdout is not a terminal or NO_COLOR is set.",
)
@click.option("-q", "--quiet", is_flag=True, help="With --out: write only the file(s), nothing on stdout.")
@click.option(
    "--threads",
    type=int,
    default=None,
    show_default="all cores",
    help="CPU threads; batch-1 sampling of big models is memory-bound and gains from several cores.",
)
@click.option(
    "--novelty",
    metavar="CORPUS",
    default=None,
    callback=novelty_option,
    help="Copy check: report, on stderr, each sample's longest stretch shared with CORPUS and its copied share.",
)
@click.pass_context
def sample(
    ctx: click.Context,
    ckpt: Path,
    temp: float,
    top_k: int,
    top_p: float,
    prime: str,
    prime_file: Path | None,
    length: int,
    seed: int | None,
    num: int,
    stops: tuple[str, ...],
    stop_keep: bool,
    repetition_penalty: float | None,
    penalty_window: int,
    beam: int | None,
    output_format: str,
    out_path: str | None,
    quiet: bool,
    color: bool,
    threads: int,
    novelty,
) -> None:
    """Generate text from a checkpoint, streaming it as it is made.

    \b
    Examples:
      rnngen sample checkpoints/shakespeare-char-lstm.safetensors --temp 0.8
      rnngen sample CKPT --prime "ROMEO:" --length 300 --top-p 0.9 --seed 1
      rnngen sample CKPT --num 4 --temp 0   # four greedy samples
      rnngen sample CKPT --prime-file start.txt --stop $'\\n\\n'   # one paragraph
      rnngen sample CKPT --beam 5 --num 3 --repetition-penalty 1.3
      rnngen sample CKPT --format jsonl --num 2 --length 50 | jq .text
      rnngen sample CKPT --num 8 --out samples/ --quiet   # samples/sample-seed<N>-1.txt ...
    """
    import torch

    from rnngen.checkpoint import load_checkpoint
    from rnngen.sampling import SamplingConfig, encode_prime

    if prime_file is not None:
        if given(ctx, "prime"):
            raise click.UsageError("give --prime or --prime-file, not both")
        prime = _read_prime_file(prime_file)
    if beam is not None:
        typed = [flag(n) for n in ("temp", "top_k", "top_p") if given(ctx, n)]
        if typed:
            raise click.UsageError(f"--beam is a deterministic search; it takes no {'/'.join(typed)}")
        if num > beam:
            raise click.BadParameter(f"with --beam {beam} at most {beam} (the best beams)", ctx, param_hint="'--num'")
    if quiet and out_path is None:
        raise click.UsageError("--quiet needs --out (else there is nothing to show)")
    jsonl = output_format == "jsonl"
    if seed is None and (jsonl or out_path is not None) and beam is None:
        import secrets

        seed = secrets.randbelow(2**31)  # unseeded, but the record and the file name say how to repeat it
    targets = _out_targets(out_path, num, seed, ".jsonl" if jsonl else ".txt") if out_path is not None else []
    if given(ctx, "penalty_window") and repetition_penalty is None:
        raise click.UsageError("--penalty-window needs --repetition-penalty")
    if stop_keep and not stops:
        raise click.UsageError("--stop-keep needs --stop")
    config = SamplingConfig(temperature=temp, top_k=top_k, top_p=top_p)
    config.validate()
    if length < 0 or num < 1:
        raise RnngenError("--length must be 0 or more and --num at least 1")
    if threads is not None:
        if threads < 1:
            raise RnngenError("--threads must be at least 1")
        torch.set_num_threads(threads)
    loaded = load_checkpoint(ckpt, with_training_state=False)
    model, tokenizer = loaded.build_model(), loaded.tokenizer
    if prime:
        _, unknown = encode_prime(tokenizer, prime)
        if unknown:
            echo(
                f"note: {len(unknown)} word(s) of the prime are not in the vocabulary and read as <unk>: "
                f"{' '.join(unknown[:8])}",
                err=True,
            )
    out = sys.stdout
    # A model can emit escape sequences (its corpus held them): a terminal is shown them, never obeys them.
    shown = visible_controls if is_terminal(out) else str
    penalty = (repetition_penalty, penalty_window) if repetition_penalty is not None else None
    # Colour only where someone looks at it: a terminal, and not when NO_COLOR asks for none.
    shade = color and not jsonl and not quiet and not plain_text(out)
    if beam is not None:
        from rnngen.beam_search import beam_search
        from rnngen.sampling import SampleResult, token_records

        beams = beam_search(
            model, tokenizer, prime=prime, length=length, width=beam, num=num,
            stops=stops, stop_keep=stop_keep, penalty=penalty,
        )  # fmt: skip
        results = [
            SampleResult(
                b.text,
                seed,
                b.stopped,
                token_records(model, tokenizer, prime, b.ids) if jsonl or shade else None,
                b.score,
            )
            for b in beams
        ]
    else:
        from rnngen.sampling import run_samples

        options: dict[str, Any] = dict(
            prime=prime, length=length, config=config, seed=seed, num=num, stops=stops, stop_keep=stop_keep
        )
        if num == 1 and not jsonl and not quiet:
            out.write(shown(prime))
            last_flush = [time.perf_counter()]
            painter = _Painter()

            def write(_row: int, piece: str) -> None:
                out.write(painter.paint(piece) if shade else shown(piece))
                now = time.perf_counter()
                if now - last_flush[0] > 0.05:
                    out.flush()
                    last_flush[0] = now

            results = run_samples(
                model, tokenizer, penalty=penalty, on_text=write, with_stats=shade,
                on_token=(lambda _row, record: painter.add(record)) if shade else None, **options,
            )  # fmt: skip
            out.write("\n")
            out.flush()
            _write_files(targets, [r.text for r in results], output_format)
            if novelty is not None:  # the copy check (rnngen/cli/novelty.py)
                report_novelty(novelty, [r.text for r in results], level=tokenizer.level, as_json=jsonl)
            return
        results = run_samples(model, tokenizer, penalty=penalty, with_stats=jsonl or shade, **options)
    if jsonl:
        settings = dict(
            checkpoint=str(ckpt), prime=prime, length=length, num=num,
            temp=None if beam else temp, top_k=None if beam else top_k, top_p=None if beam else top_p,
            stop=list(stops), stop_keep=stop_keep, repetition_penalty=repetition_penalty,
            penalty_window=penalty_window if repetition_penalty is not None else None, beam=beam,
        )  # fmt: skip
        documents = [_jsonl_record(i, result, settings) for i, result in enumerate(results)]
        if not quiet:
            out.write("".join(d + "\n" for d in documents))
            out.flush()
    else:
        documents = [r.text for r in results]
        if shade:
            _write_all(out, str, [shown(prime) + _Painter(r.tokens).paint(r.text[len(prime) :]) for r in results])
        elif not quiet:
            _write_all(out, shown, documents)
    _write_files(targets, documents, output_format)
    if novelty is not None:  # the copy check (rnngen/cli/novelty.py)
        report_novelty(novelty, [r.text for r in results], level=tokenizer.level, as_json=jsonl)


def _out_targets(given_path: str, num: int, seed: int | None, ext: str) -> list[Path]:
    """The file(s) --out will create, refused (exit 2) if any exists: nothing is overwritten."""
    hint = "'--out'"
    out_path = Path(given_path)
    if given_path.endswith(("/", os.sep)) or out_path.is_dir():
        if out_path.exists() and not out_path.is_dir():
            raise click.BadParameter(f"{out_path} is a file, not a folder", param_hint=hint)
        name = f"seed{seed}" if seed is not None else "beam"
        targets = [out_path / f"sample-{name}-{i + 1}{ext}" for i in range(num)]
    else:
        if not out_path.parent.is_dir():
            raise click.BadParameter(f"folder {out_path.parent} does not exist", param_hint=hint)
        targets = [out_path]
    for target in targets:
        if target.exists() or target.is_symlink():
            raise click.BadParameter(
                f"{target} already exists and rnngen never overwrites a file; give a new name", param_hint=hint
            )
    return targets


def _write_files(targets: list[Path], documents: list[str], output_format: str) -> None:
    """One file for all samples (text: separated by lines of ---; jsonl: one line each), or one per sample."""
    if not targets:
        return
    end = "\n"
    if len(targets) == 1:
        joined = "".join(d + end for d in documents) if output_format == "jsonl" else "\n---\n".join(documents) + end
        contents = [joined]
    else:
        contents = [d + end for d in documents]
    try:
        targets[0].parent.mkdir(parents=True, exist_ok=True)  # --out new-folder/
    except OSError as e:
        raise RnngenError(f"cannot create folder {targets[0].parent}: {e.strerror or e}") from None
    for target, text in zip(targets, contents):
        _create_new(target, text.encode("utf-8"))


def _create_new(target: Path, data: bytes) -> None:
    """Write ``data`` to a new file ``target`` whole or not at all, never replacing one that
    appeared meanwhile: a temporary file (atomic_files) hard-linked to the name, which fails if it exists."""
    from rnngen.atomic_files import create_exclusive, write_atomically

    tmp, fd = create_exclusive(target)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise RnngenError(
                f"{target} appeared while sampling; nothing was overwritten, the samples were not saved"
            ) from None
        except OSError:  # a filesystem without hard links: the check above is all we have
            if target.exists():
                raise RnngenError(f"{target} appeared while sampling; nothing was overwritten") from None
            write_atomically(target, data)
    except OSError as e:
        raise RnngenError(f"cannot write {target}: {e.strerror or e}") from None
    finally:
        tmp.unlink(missing_ok=True)


# 256-colour foregrounds from warm to cool: below each probability, its colour; above the last, none.
SHADES = ((0.05, 196), (0.15, 202), (0.3, 208), (0.5, 214), (0.7, 220))


def shade_code(prob: float) -> int | None:
    """The 256-colour code --color gives a token of this probability (None: plain)."""
    return next((code for limit, code in SHADES if prob < limit), None)


class _Painter:
    """Colours text as it is shown: each character takes the shade of the token that made it.

    Tokens arrive (``add``) before their text is shown; the shown text is always a prefix of
    the tokens' text (a stop cuts, never reorders), so a queue of (characters, shade) is enough.
    """

    def __init__(self, records=None) -> None:
        self.queue: list[list] = []
        for record in records or []:
            self.add(record)

    def add(self, record) -> None:
        if record.text:
            self.queue.append([len(record.text), shade_code(record.prob)])

    def paint(self, text: str) -> str:
        parts, at = [], 0
        while at < len(text):
            if not self.queue:  # cannot happen; stay safe and plain
                parts.append(visible_controls(text[at:]))
                break
            left, code = self.queue[0]
            take = min(left, len(text) - at)
            chunk = visible_controls(text[at : at + take])  # model output: shown, never obeyed
            parts.append(chunk if code is None else f"\x1b[38;5;{code}m{chunk}\x1b[0m")
            at += take
            if take == left:
                self.queue.pop(0)
            else:
                self.queue[0][0] -= take
        return "".join(parts)


def _jsonl_record(index: int, result, settings: dict) -> str:
    """One sample as one JSON line: probabilities are the model's (temperature 1), entropy in nats."""
    import json

    from rnngen.terminal_text import json_escape_controls

    record: dict = {"index": index, "seed": result.seed, "text": result.text, "stopped": result.stopped}
    if result.score is not None:
        record["mean_logprob_nats"] = result.score
    record["settings"] = settings
    record["tokens"] = [
        {"token": t.text, "id": t.id, "prob": t.prob, "entropy_nats": t.entropy_nats} for t in result.tokens or []
    ]
    # DEL and C1 controls as \u escapes: the same JSON, safe on a terminal.
    return json_escape_controls(json.dumps(record, ensure_ascii=False))


def _write_all(out, shown, texts: list[str]) -> None:
    for i, text in enumerate(texts):
        if i:
            out.write("\n" + "-" * 40 + "\n")
        out.write(shown(text) + "\n")
    out.flush()
