"""The training dashboard: ``rnngen train CORPUS --tui``.

Training runs in a Textual thread worker through ``rnngen.live.LiveSession`` (the same
``Trainer`` as the plain CLI). The training thread only appends events to a deque; a
timer in the UI thread drains it and redraws the panels a few times a second, so the
cost to training is one ``deque.append`` per step plus the probes.
"""

from __future__ import annotations

import asyncio
import collections
import signal
import sys
import time
from collections.abc import Sequence

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.filter import LineFilter
from textual.widgets import Footer, Static
from textual.worker import Worker

from rnngen.live import LiveSession
from rnngen.terminal_text import visible_controls
from rnngen.tui.control_filter import DROP_CONTROLS
from rnngen.tui.dashboard_state import DashboardState, ErrorEvent
from rnngen.tui.widgets.charts import (
    bucket,
    fmt,
    fmt_duration,
    fmt_sci,
    heatmap,
    line_chart,
    log_bars,
    smooth,
    sparkline,
)
from rnngen.tui.widgets.panel import Panel

UI_SWITCH_INTERVAL_S = 0.0005  # GIL hand-over while the dashboard is open (default 0.005)


# ---- the app ------------------------------------------------------------------------------------


class TrainingDashboard(App):
    """Live view of a training run; stays open on the final state until ``q``."""

    CSS_PATH = "dashboard.tcss"
    TITLE = "rnngen train"
    BINDINGS = [
        Binding("p", "toggle_pause", "pause/resume"),
        Binding("space", "toggle_pause", "pause/resume", show=False),
        Binding("s", "save", "save now"),
        Binding("x", "stop", "stop"),
        Binding("plus,equals_sign,right_square_bracket", "temperature(0.1)", "temp +"),
        Binding("minus,left_square_bracket", "temperature(-0.1)", "temp -"),
        Binding("q", "quit_dashboard", "quit"),
        Binding("ctrl+c", "quit_dashboard", "quit", show=False, priority=True),
    ]

    def __init__(self, session: LiveSession | None = None, *, refresh_hz: float = 5.0, clock=time.monotonic):
        super().__init__()
        self.session = session
        self.state = DashboardState()
        self.queue: collections.deque = collections.deque()
        self.refresh_hz = refresh_hz
        self.clock = clock
        self.frames: list[float] = []  # times of redraws with something new (for the benchmark)
        self.ticks: list[float] = []  # times the refresh timer ran
        self.quitting = False
        self.exit_code = 0
        self._worker: Worker | None = None
        self._temperature = session.temperature if session else 0.8
        if session is not None:
            session.callback = self.queue.append

    # -- layout

    def get_line_filters(self) -> Sequence[LineFilter]:
        return [*super().get_line_filters(), DROP_CONTROLS]  # no control character reaches the terminal raw

    def compose(self) -> ComposeResult:
        yield Static("", id="status")
        with Horizontal(classes="row"):
            yield Panel("loss (train · / val ◆)", id="loss")
            yield Panel("gradient norm", id="grad")
        with Horizontal(classes="row"):
            yield Panel("gradient through time ‖dL/dh_t‖", id="gtt")
            yield Panel("hidden state (probe window)", id="hidden")
        with Horizontal(id="bottom"):
            yield Panel("sample", id="sample")
            yield Panel("log", id="log")
        yield Footer()

    def on_mount(self) -> None:
        # The UI thread's Python holds the GIL for up to the switch interval (5 ms) whenever
        # the training thread wants it back between two torch kernels; a short interval
        # hands it back sooner, so drawing costs the trainer less (benchmarks/README.md).
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(UI_SWITCH_INTERVAL_S)
        self.set_interval(1 / self.refresh_hz, self.redraw)
        try:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.action_quit_dashboard)
        except (RuntimeError, NotImplementedError, ValueError):
            pass  # not the main thread (tests): no signal handlers
        if self.session is not None:
            self.session.started.set()  # training counts as running from here on
            self._worker = self.run_worker(self._train, thread=True, exit_on_error=False, name="training")
        self.redraw(force=True)

    def on_unmount(self) -> None:
        sys.setswitchinterval(getattr(self, "_switch_interval", 0.005))
        try:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        except (RuntimeError, NotImplementedError, ValueError):
            pass

    def _train(self) -> None:
        assert self.session is not None  # started only with a session
        try:
            self.session.run()
        except Exception as exc:  # shown on screen, never a traceback
            self.queue.append(ErrorEvent(f"{type(exc).__name__}: {exc}"))
            if self.session.trainer.step:
                try:
                    self.session.trainer.save()
                except Exception:
                    pass

    @property
    def training(self) -> bool:
        return self.session is not None and self.session.running

    # -- feeding (any thread) and drawing (UI thread)

    def feed(self, event: object) -> None:
        self.queue.append(event)

    def redraw(self, force: bool = False) -> None:
        self.ticks.append(self.clock())
        dirty = force
        while self.queue:
            self.state.apply(self.queue.popleft())
            dirty = True
        if self.quitting and not self.training:
            self._finish()
            return
        if not dirty:
            return
        self.frames.append(self.clock())
        s = self.state
        v = s.versions
        self.query_one("#status", Static).update(self.render_status())
        self.query_one("#status").set_class(s.alarm is not None or s.error is not None, "alarm")
        for panel_id, render, key in (
            ("loss", self.render_loss, v["train"]),
            ("grad", self.render_grad, v["train"]),
            ("gtt", self.render_gtt, v["probe"]),
            ("hidden", self.render_hidden, v["probe"]),
            ("sample", self.render_sample, (v["sample"], self._temperature)),
            ("log", self.render_log, v["log"]),
        ):
            widget = self.query_one(f"#{panel_id}", Panel)
            size = widget.content_size
            if widget.drawn_key == (key, size) and not force:
                continue
            widget.drawn_key = (key, size)
            widget.show(render(max(size.width, 10), max(size.height, 1)))

    def on_resize(self) -> None:
        self.call_after_refresh(self.redraw, True)

    def _finish(self) -> None:
        code = self.exit_code_for_state()
        self.exit(code, return_code=code)

    def exit_code_for_state(self) -> int:
        if self.state.done is not None and self.state.done.reason == "diverged":
            return 3
        return 1 if self.state.error else 0

    # -- panels

    def render_status(self) -> Text:
        s = self.state
        t = Text()
        if s.start is not None:
            m = s.start.model_config
            t.append(f" {m.label} ", style="bold reverse")
            t.append(f" {s.start.parameters:,} params · ")
        step = s.last_step
        done_step = s.done.step if s.done else (step.step if step else 0)
        total = s.start.total_steps if s.start else None
        t.append(f"step {done_step}" + (f"/{total}" if total else ""))
        progress = 1.0 if s.done and s.done.reason == "budget" else (step.progress if step else 0.0)
        filled = int(progress * 10)
        t.append(" " + "█" * filled + "░" * (10 - filled) + f" {progress:4.0%}")
        if step is not None:
            t.append(
                f" · {step.tokens_per_s:,.0f} tok/s · left {fmt_duration(0 if s.done else step.eta_s)}"
                f" · lr {step.lr:.1e}"
            )
        t.append(" · ")
        if s.done is not None:
            t.append(
                f"{s.done.reason.upper()} · q quits", style="bold green" if s.done.reason == "budget" else "bold yellow"
            )
        elif self.quitting:
            t.append("SAVING…", style="bold yellow")
        elif s.paused:
            t.append("PAUSED", style="bold yellow")
        else:
            t.append("TRAINING", style="bold green")
        if s.alarm is not None:
            t.append(
                f"\n ⚠ ALARM {s.alarm.message} (parameter: {s.alarm.parameter}); the last good checkpoint is kept",
                style="bold white on red",
            )
        elif s.error is not None:
            t.append(f"\n ⚠ {s.error}", style="bold white on red")
        else:
            t.append(
                f"\n train loss {fmt(step.loss if step else None)} · bpc {fmt(step.bpc if step else None)}"
                f" · val loss {fmt(s.val_loss[-1][1] if s.val_loss else None)} · val bpc {fmt(s.val_bpc)}",
                style="dim" if step is None else "",
            )
        return t

    def render_loss(self, width: int, height: int) -> Text:
        s = self.state
        total = s.start.total_steps if s.start else None
        chart = line_chart(
            [(smooth(s.train_loss), "·", "cyan"), (s.val_loss, "◆", "bold yellow")], width, height - 1, x_max=total
        )
        step = s.last_step
        head = Text(
            f"train {fmt(step.loss if step else None)}  bpc {fmt(step.bpc if step else None)}   "
            f"val {fmt(s.val_loss[-1][1] if s.val_loss else None)}  bpc {fmt(s.val_bpc)}\n",
            style="bold",
        )
        return head + chart

    def render_grad(self, width: int, height: int) -> Text:
        s = self.state
        t = Text()
        if not s.grad_norm:
            t.append("waiting for the first steps…", style="dim")
            return t
        clip = (s.start.config.clip or 0) if s.start else 0
        recent = s.clipped[-100:]
        t.append(
            f"‖g‖ {fmt_sci(s.grad_norm[-1])} before clip · clip {clip or 'off'} · "
            f"clipped {sum(recent) / max(len(recent), 1):.0%} of {len(recent)}\n",
            style="bold",
        )
        cols = width - 7
        norms = bucket(s.grad_norm, cols)
        flags = bucket([1.0 if c else 0.0 for c in s.clipped], cols)
        line = sparkline(norms, cols, log=True)
        t.append(f"{fmt_sci(max(norms)):>6} ", style="dim")
        for ch, flag in zip(line, flags):
            t.append(ch, style="red" if flag > 0 else "green")
        t.append("\n       ")
        t.append("".join("▲" if flag > 0 else " " for flag in flags), style="red")
        t.append("\n")
        rows = max(0, height - 4)
        names = list(s.param_norms)[:rows]
        name_w = min(22, max((len(n) for n in names), default=0))
        spark_w = max(4, width - name_w - 10)
        for name in names:
            values = s.param_norms[name]
            t.append(f"{name[-name_w:]:<{name_w}} ", style="dim")
            t.append(f"{sparkline(values, spark_w, log=True):<{spark_w}}", style="magenta")
            t.append(f" {fmt_sci(values[-1]):>8}\n")
        if len(s.param_norms) > rows:
            t.append(f"… {len(s.param_norms) - rows} more", style="dim")
        t.rstrip()
        return t

    def render_gtt(self, width: int, height: int) -> Text:
        s = self.state
        p = s.probe
        if p is None:
            return Text("waiting for the first probe…", style="dim")
        top = p.grad_norms[-1]
        head = Text(f"step {p.step} · T={len(top)} · h1/hT {fmt_sci(p.decay_ratio)}", style="bold")
        if s.first_probe is not None and s.first_probe is not p:
            head.append(f" (at step {s.first_probe.step}: {fmt_sci(s.first_probe.decay_ratio)})", style="dim")
        head.append("\n")
        chart = log_bars(top, width, height - 2, decades=40)
        foot = Text(f"\n{'':7}t=1 oldest{'':>{max(1, width - 7 - 10 - 10)}}t=T (loss)", style="dim")
        return head + chart + foot

    def render_hidden(self, width: int, height: int) -> Text:
        p = self.state.probe
        if p is None:
            return Text("waiting for the first probe…", style="dim")
        units = len(p.hidden[0]) if p.hidden else 0
        shown = min(units, (height - 1) * 2)
        head = Text(f"units 1-{shown}/{units} × {min(width, len(p.hidden))} steps · blue −1 red +1\n", style="dim")
        body = heatmap(p.hidden, width, height - 1)
        return head + body

    def render_sample(self, width: int, height: int) -> Text:
        p = self.state.preview
        head = Text(f"temp {self._temperature:.1f}", style="bold")
        if p is None:
            return head + Text(" · a sample appears at each evaluation", style="dim")
        head.append(f" · step {p.step} (drawn at temp {p.temperature:.1f})\n", style="dim")
        lines = visible_controls(p.text).split("\n")  # a model's escape sequences are shown, not obeyed
        body = "\n".join(line[:width] for line in lines)
        return head + Text(body)

    def render_log(self, width: int, height: int) -> Text:
        t = Text()
        for i, (line, style) in enumerate(self.state.log[-height:]):
            if i:
                t.append("\n")
            t.append(line[:width], style=style)
        return t

    # -- actions

    def action_toggle_pause(self) -> None:
        if self.session is None or not self.training:
            return
        if self.session.paused:
            self.session.resume()
        else:
            self.session.pause()

    def action_save(self) -> None:
        if self.session is not None and self.training:
            self.session.request_save()
        elif self.session is not None:
            self.notify("training has ended; the checkpoint is saved")

    def action_stop(self) -> None:
        if self.session is not None and self.training:
            self.session.stop()

    def action_temperature(self, delta: float) -> None:
        self._temperature = round(max(0.0, min(3.0, self._temperature + delta)), 2)
        if self.session is None:
            self.redraw(force=True)
            return
        self.session.set_temperature(self._temperature)
        if not self.training:
            self.run_worker(self.session.preview, thread=True, exit_on_error=False, group="preview")
        self.redraw(force=True)

    def action_quit_dashboard(self) -> None:
        """Save (stopping training if it runs), then exit."""
        self.quitting = True
        if self.session is not None and self.training:
            self.session.stop()
            self.redraw(force=True)
        else:
            self._finish()
