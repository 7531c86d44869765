"""Pick a checkpoint from the ones under a folder (checkpoints/ by default)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from rnngen.terminal_text import visible_controls
from rnngen.tui.checkpoints import Listed, find_checkpoints


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


class CheckpointPicker(ModalScreen[Path | None]):
    """A list of checkpoints; enter opens one. ``cancellable``: esc goes back."""

    BINDINGS = [
        Binding("escape", "cancel", "back"),
        Binding("q", "quit_app", "quit"),
    ]

    def __init__(self, folder: Path, *, title: str = "Open a checkpoint", cancellable: bool = True) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.title_text = title
        self.cancellable = cancellable
        self.listed: list[Listed] = []

    def compose(self) -> ComposeResult:
        self.listed = find_checkpoints(self.folder)
        with Vertical(id="picker-box"):
            if self.listed:
                yield Static(Text(f"Checkpoints under {self.folder}/ (newest first)", style="dim"), id="picker-hint")
                width = max(len(self._label(item)) for item in self.listed)
                options = [Option(self._row(item, width), id=str(i)) for i, item in enumerate(self.listed)]
                yield OptionList(*options, id="picker-list")
            else:
                yield Static(
                    Text.assemble(
                        (f"No checkpoints under {self.folder}/\n\n", "bold"),
                        "Train one first, for example:\n\n",
                        ("  rnngen train shakespeare --time 3m\n\n", "#f0a030"),
                        "or open a file directly: rnngen tui PATH.safetensors",
                    ),
                    id="picker-empty",
                )
        yield Footer(compact=True, show_command_palette=False)

    def _label(self, item: Listed) -> str:
        try:
            label = str(item.path.relative_to(self.folder))
        except ValueError:
            label = str(item.path)
        return visible_controls(label)  # a file name in a shared folder may hold escape sequences

    def _row(self, item: Listed, width: int) -> Text:
        return Text.assemble(
            (f"{self._label(item):<{width}}  ", "bold"),
            (visible_controls(item.summary), ""),
            (f"  {_size(item.size_bytes)}", "dim"),
        )

    def on_mount(self) -> None:
        box = self.query_one("#picker-box")
        box.border_title = self.title_text
        box.border_subtitle = "enter opens · esc back · q quits" if self.cancellable else "enter opens · q quits"
        if self.listed:
            self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        assert event.option.id is not None  # every option is made with its index as id
        self.dismiss(self.listed[int(event.option.id)].path)

    def action_cancel(self) -> None:
        if self.cancellable:
            self.dismiss(None)

    def action_quit_app(self) -> None:
        self.app.exit(0)
