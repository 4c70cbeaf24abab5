"""The rnn-tui application: tabbed panes, help, a command palette, and a careful quit.

Nothing here imports torch: the first frame appears at once and panes load the engine
in workers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, TabbedContent, TabPane

from engine.training.runs import default_runs_root
from tui.bindings import binding_ids, owned_sections
from tui.generate.pane import GeneratePane
from tui.help import HelpScreen
from tui.quit import QuitScreen
from tui.stepper.pane import StepperPane
from tui.train.pane import TrainPane

PANES = {"stepper": "Stepper", "train": "Train", "generate": "Generate"}
PANE_KEYS = {"stepper": "F2", "train": "F3", "generate": "F4"}


class Panes(TabbedContent):
    """The panes' tabs. TabbedContent shows the tab of a widget focused in code, but that news comes as a
    message: one about the Stepper focused at start-up, handled after an F3 typed during start-up, would
    take the user back to the Stepper. A pane that no longer holds the focus is not brought forward."""

    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        focused = self.app.focused
        if focused is None or event.tab_pane not in focused.ancestors_with_self:
            event.prevent_default()  # TabbedContent's own handler would switch to it


class RnnTuiApp(App[None]):
    """A terminal lab for recurrent neural networks."""

    TITLE = "rnn-tui"
    SUB_TITLE = "recurrent networks: step, train, generate"
    CSS_PATH = "rnn_tui.tcss"

    BINDINGS = [
        Binding(
            "f2",
            "show_pane('stepper')",
            "Stepper",
            id="app.stepper",
            tooltip="The Stepper pane",
            show=False,
            priority=True,
        ),
        Binding(
            "f3", "show_pane('train')", "Train", id="app.train", tooltip="The Train pane", show=False, priority=True
        ),
        Binding(
            "f4",
            "show_pane('generate')",
            "Generate",
            id="app.generate",
            tooltip="The Generate pane",
            show=False,
            priority=True,
        ),
        Binding("question_mark,f1", "help", "help", id="app.help", tooltip="Keys and what each view shows"),
        Binding("q", "quit", "quit", id="app.quit", tooltip="Leave rnn-tui", show=False),
    ]

    def __init__(
        self, keymap: dict[str, str] | None = None, runs_root: Path | None = None, run: str | None = None
    ) -> None:
        super().__init__()
        self.user_keymap = keymap or {}
        self.runs_root = Path(runs_root) if runs_root else default_runs_root()
        self.run_inspected = run  # rnn-tui --run: inspected in the Stepper from the start
        # Set when the Train pane has read the runs root once: the Stepper's import of torch waits for it,
        # as that import starves other threads (a big root's first read would take seconds beside it).
        self.runs_read = asyncio.Event()

    def compose(self) -> ComposeResult:
        yield Header()
        with Panes(id="panes"):
            with TabPane(f"{PANES['stepper']} [dim]{PANE_KEYS['stepper']}[/]", id="stepper"):
                yield StepperPane(
                    runs_root=self.runs_root, run=self.run_inspected, torch_after=self.runs_read, id="stepper-pane"
                )
            with TabPane(f"{PANES['train']} [dim]{PANE_KEYS['train']}[/]", id="train"):
                yield TrainPane(self.runs_root, id="train-pane")
            with TabPane(f"{PANES['generate']} [dim]{PANE_KEYS['generate']}[/]", id="generate"):
                yield GeneratePane(self.runs_root, id="generate-pane")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        if self.user_keymap:
            self.set_keymap(self.user_keymap)
            unknown = sorted(set(self.user_keymap) - binding_ids(type(self)))
            if unknown:
                self.notify(
                    f"The keymap names unknown binding ids: {', '.join(unknown)}.", severity="warning", timeout=8
                )
        self.screen.set_focus(self.query_one(StepperPane))  # now: keys typed during start-up go where the screen shows

    def on_train_pane_first_read(self) -> None:
        self.runs_read.set()

    def action_show_pane(self, pane: str) -> None:
        self.query_one(TabbedContent).active = pane
        self._focus_pane(pane)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # A click on a tab: focus the pane. After F2-F4 the focus is already inside it, maybe moved on by later keys.
        focused = self.focused
        if event.pane.id != self.query_one(TabbedContent).active:
            return  # a late message about a tab since left
        if focused is None or event.pane not in focused.ancestors_with_self:
            self._focus_pane(event.pane.id or "stepper")

    def _focus_pane(self, pane: str) -> None:
        """Focus the pane's main widget now (not later): keys typed right after F4 must reach the prompt."""
        targets = {"stepper": "StepperPane", "train": "#runs", "generate": "#gen-prompt"}
        if self.query_one(StepperPane).inspecting:
            targets["stepper"] = "#inspector"
        if pane == "generate":
            targets["generate"] = self.query_one(GeneratePane).focus_target()
        target = self.query_one(targets.get(pane, "StepperPane"))
        if self.focused is not target:
            self.screen.set_focus(target)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(owned_sections(type(self))))

    async def action_quit(self) -> None:
        """Quit, asking first whether to stop the jobs that are still training."""
        active = self.query_one(TrainPane).active_runs()
        if not active:
            self.exit()
            return

        def answer(choice: str | None) -> None:
            if choice == "stop":
                self.query_one(TrainPane).stop_all(active)
            if choice in ("stop", "leave"):
                self.exit()

        self.push_screen(QuitScreen(active), answer)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for pane, title in PANES.items():
            yield SystemCommand(f"Show the {title} pane", f"Switch to {title}", lambda p=pane: self.action_show_pane(p))
        yield from self.query_one(StepperPane).commands()
