"""``rnngen serve``: an OpenAI-compatible completions server over one or more checkpoints."""

from __future__ import annotations

from pathlib import Path

import click

from rnngen.cli.common import echo
from rnngen.errors import RnngenError

INSTALL_HINT = "rnngen serve needs aiohttp: pip install 'rnngen[serve]'"


def _at_least(low: int):
    def check(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
        if value is not None and value < low:
            raise click.BadParameter(f"must be at least {low}, not {value}", ctx, param)
        return value

    return check


@click.command()
@click.argument("ckpts", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", help="Address to listen on (0.0.0.0: every interface; think first).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, help="Port; 0 picks a free one (printed).")
@click.option(
    "--api-key",
    envvar="RNNGEN_API_KEY",
    default=None,
    show_envvar=True,
    help="Require 'Authorization: Bearer KEY' on /v1/ requests.",
)
@click.option("--max-tokens", type=int, default=1024, callback=_at_least(1), help="Most max_tokens a request may ask.")
@click.option(
    "--max-n", type=int, default=16, callback=_at_least(1), help="Most choices a request may ask (n x prompts)."
)
@click.option(
    "--max-prompt-chars", type=int, default=8192, callback=_at_least(1), help="Longest prompt, in characters."
)
@click.option(
    "--max-body-bytes", type=int, default=1 << 20, callback=_at_least(64), help="Largest request body (else 413)."
)
@click.option(
    "--max-concurrent",
    type=int,
    default=128,
    callback=_at_least(1),
    help="Requests answered at once; one more is refused with 429.",
)
@click.option("--threads", type=int, default=None, callback=_at_least(1), show_default="torch's default",
              help="CPU threads for generation.")  # fmt: skip
def serve(
    ckpts: tuple[Path, ...],
    host: str,
    port: int,
    api_key: str | None,
    max_tokens: int,
    max_n: int,
    max_prompt_chars: int,
    max_body_bytes: int,
    max_concurrent: int,
    threads: int | None,
) -> None:
    """Serve checkpoints over HTTP with OpenAI's completions API (POST /v1/completions, GET /v1/models).

    The model id of each checkpoint is its file stem. Requests for one model are batched;
    a request with a seed or temperature 0 gets exactly what `rnngen sample` would print.
    Ctrl-C or SIGTERM answers the requests in progress, then exits 0.

    \b
    Examples:
      rnngen serve checkpoints/shakespeare-char-lstm.safetensors --port 8000
      curl -s localhost:8000/v1/completions -H 'Content-Type: application/json' \\
        -d '{"model": "shakespeare-char-lstm", "prompt": "ROMEO:", "max_tokens": 100}'
    """
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        raise RnngenError(INSTALL_HINT) from None
    import asyncio

    import torch

    from rnngen.api import load
    from rnngen.server.requests import Limits
    from rnngen.server.running import load_models
    from rnngen.server.running import serve as run_server

    if threads is not None:
        torch.set_num_threads(threads)
    if api_key is not None and not api_key:
        raise RnngenError("--api-key must not be empty (leave it out for no key)")
    limits = Limits(max_tokens, max_n, max_prompt_chars, max_body_bytes, max_concurrent)
    models = load_models(list(ckpts), load, max_rows=max(256, max_n))
    drained = asyncio.run(
        run_server(models, host=host, port=port, limits=limits, api_key=api_key, say=lambda line: echo(line))
    )
    if not drained:
        echo("rnngen serve: stopped before every request in progress was answered", err=True)
        raise SystemExit(130)
