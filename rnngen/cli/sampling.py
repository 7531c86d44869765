"""``rnngen sample``: stream text from a checkpoint."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from rnngen.cli.common import echo
from rnngen.errors import RnngenError
from rnngen.terminal_text import is_terminal, visible_controls


@click.command()
@click.argument("ckpt", type=click.Path(path_type=Path))
@click.option("--temp", type=float, default=0.8, help="Temperature: lower is safer, higher is wilder; 0 = argmax.")
@click.option("--top-k", type=int, default=0, help="Sample only from the K most likely tokens (0 = off).")
@click.option("--top-p", type=float, default=1.0, help="Sample from the smallest set holding probability P (1 = off).")
@click.option("--prime", default="", help="Text to start from; the output begins with it.")
@click.option("--length", type=int, default=500, help="New tokens to generate.")
@click.option("--seed", type=int, default=None, help="Random seed for reproducible samples.")
@click.option("--num", type=int, default=1, help="Independent samples, generated as one batch.")
@click.option(
    "--threads",
    type=int,
    default=None,
    show_default="all cores",
    help="CPU threads; batch-1 sampling of big models is memory-bound and gains from several cores.",
)
def sample(
    ckpt: Path, temp: float, top_k: int, top_p: float, prime: str, length: int, seed: int | None, num: int, threads: int
) -> None:
    """Generate text from a checkpoint, streaming it as it is made.

    \b
    Examples:
      rnngen sample checkpoints/shakespeare-char-lstm.safetensors --temp 0.8
      rnngen sample CKPT --prime "ROMEO:" --length 300 --top-p 0.9 --seed 1
      rnngen sample CKPT --num 4 --temp 0   # four greedy samples
    """
    import torch

    from rnngen.checkpoint import load_checkpoint
    from rnngen.sampling import SamplingConfig, encode_prime, generate

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
    stream = generate(model, tokenizer, prime=prime, length=length, config=config, seed=seed, num=num)
    if num == 1:
        from rnngen.tokenizers import text_pieces  # word spacing; BPE bytes held until a character is whole

        out.write(shown(prime))
        last_flush = time.perf_counter()
        for piece in text_pieces(tokenizer, (int(new[0]) for new in stream), after=prime):
            out.write(shown(piece))
            now = time.perf_counter()
            if now - last_flush > 0.05:
                out.flush()
                last_flush = now
        out.write("\n")
        out.flush()
        return
    columns: list[list[int]] = [[] for _ in range(num)]
    for new in stream:
        for i, token_id in enumerate(new.tolist()):
            columns[i].append(token_id)
    from rnngen.sampling import continue_text

    for i, col in enumerate(columns):
        if i:
            out.write("\n" + "-" * 40 + "\n")
        out.write(shown(continue_text(tokenizer, prime, col)) + "\n")
    out.flush()
