"""What steers a sample besides temperature: stop texts, the repetition penalty, and the
text each token adds, pushed one token at a time.

All of it costs O(1) per token (the stop check looks only at the tail of the text, the
penalty only at the last ``window`` tokens), so long samples stay as cheap per token as
short ones.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence

import torch

from rnngen.errors import RnngenError, setting
from rnngen.tokenizers import Tokenizer, join_words


def check_stops(stops: Sequence[str]) -> tuple[str, ...]:
    """The stop texts, refused when one is empty (it would stop before the first token)."""
    for stop in stops:
        if not stop:
            raise RnngenError(f"{setting('stop')} needs a non-empty text, e.g. {setting('stop')} $'\\n\\n'")
    return tuple(stops)


class StopWatcher:
    """Finds the first stop text in one sample's growing text, and says what may be shown.

    ``push(piece)`` returns the text that is safe to show now: everything except the
    longest tail that could still turn into a stop (so streamed output never shows text
    past a stop). Once a stop is found, ``stopped`` is True and nothing more is shown;
    the stop itself is shown only with ``keep``.
    """

    def __init__(self, stops: Sequence[str], *, keep: bool = False):
        self.stops = tuple(stops)
        self.keep = keep
        self.stopped = False
        self.pending = ""  # text not shown yet: it may be the start of a stop
        self._longest = max((len(s) for s in self.stops), default=0)

    def push(self, piece: str) -> str:
        if self.stopped:
            return ""
        text = self.pending + piece
        if not self.stops:
            self.pending = ""
            return text
        # A stop can only start inside the pending tail or the new piece: look there only.
        found = [(i, s) for s in self.stops if (i := text.find(s)) >= 0]
        if found:
            at, stop = min(found, key=lambda f: (f[0], -len(f[1])))
            self.stopped = True
            self.pending = ""
            return text[: at + len(stop)] if self.keep else text[:at]
        held = self._held(text)
        self.pending = text[len(text) - held :] if held else ""
        return text[: len(text) - held]

    def flush(self) -> str:
        """The end of the sample: what was held back can no longer become a stop."""
        rest, self.pending = ("" if self.stopped else self.pending), ""
        return rest

    def _held(self, text: str) -> int:
        """Length of the longest tail of ``text`` that is a proper prefix of some stop."""
        for n in range(min(self._longest - 1, len(text)), 0, -1):
            tail = text[-n:]
            if any(s.startswith(tail) for s in self.stops):
                return n
        return 0


class PieceMaker:
    """The text each token adds, one token at a time (the push form of ``token_pieces``):
    word tokens bring the space before them, byte-level tokens wait until a character is whole."""

    def __init__(self, tokenizer: Tokenizer, after: str = ""):
        self.tokenizer = tokenizer
        self.token_bytes = getattr(tokenizer, "token_bytes", None)
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace") if self.token_bytes else None
        self.last = after[-1:]

    def push(self, token_id: int) -> str:
        if self.decoder is not None:
            return self.decoder.decode(self.token_bytes(int(token_id)))  # type: ignore[misc]
        if self.tokenizer.level == "word":
            piece = join_words([self.tokenizer.token_text(int(token_id))], after=self.last)
            self.last = piece[-1:] if piece else self.last
            return piece
        return self.tokenizer.token_text(int(token_id))

    def finish(self) -> str:
        return self.decoder.decode(b"", final=True) if self.decoder is not None else ""


def check_penalty(factor: float, window: int) -> None:
    if not factor > 0 or factor != factor or factor == float("inf"):
        raise RnngenError(f"{setting('repetition_penalty')} must be more than 0 (1 = off), not {factor}")
    if window < 1:
        raise RnngenError(f"{setting('penalty_window')} must be at least 1, not {window}")


def penalise(logits: torch.Tensor, seen: torch.Tensor, factor: float) -> torch.Tensor:
    """CTRL's repetition penalty: the logit of every token in ``seen`` (a (N, V) bool mask)
    is divided by ``factor`` when positive and multiplied by it when negative, so a factor
    above 1 makes every recently seen token less likely, whatever the sign of its logit."""
    scaled = torch.where(logits > 0, logits / factor, logits * factor)
    return torch.where(seen, scaled, logits)


class RepetitionPenalty:
    """The last ``window`` tokens of each row, and the penalty they put on the next logits."""

    def __init__(self, factor: float, window: int, history: torch.Tensor, rows: int, vocab: int):
        check_penalty(factor, window)
        self.factor, self.window, self.vocab = float(factor), int(window), vocab
        # A ring of the last `window` ids per row; -1 = empty. The prime's last tokens count too.
        self.ring = torch.full((rows, self.window), -1, dtype=torch.long)
        tail = history[-self.window :]
        if tail.numel():
            self.ring[:, : tail.numel()] = tail
        self.pos = tail.numel() % self.window

    def seen(self) -> torch.Tensor:
        mask = torch.zeros((self.ring.shape[0], self.vocab + 1), dtype=torch.bool)
        mask.scatter_(1, self.ring + 1, True)  # column 0 takes the empty slots
        return mask[:, 1:]

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        return penalise(logits, self.seen(), self.factor)

    def push(self, ids: torch.Tensor) -> None:
        self.ring[:, self.pos] = ids
        self.pos = (self.pos + 1) % self.window

    def select(self, rows: torch.Tensor) -> None:
        """Keep (or reorder to) these rows: a batch that shrinks, or beams that move."""
        self.ring = self.ring.index_select(0, rows)
