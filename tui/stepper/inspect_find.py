"""The inspector's Find units view and its keys: mark spans of the text (s, e, x), rank the units that follow them
(f) or a built-in probe (p) with engine.inspection.units.find_units, and show a found unit's heatmap (Enter)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.stepper.inspect_forms import ProbePicker
from tui.stepper.inspect_views import InspectorDrawing

FOUND = 20  # units listed by Find


class FindUnits(InspectorDrawing):
    """Marking spans and finding the units that follow them (the Inspector's base class)."""

    def action_span_start(self) -> None:
        self.span_start = self.index
        self.set_message(f"A span starts at step {self.index + 1}; step to its last character and press e.")
        self.redraw()

    def action_span_end(self) -> None:
        if self.span_start is None:
            self.set_message("No span is open: press s at its first step, then e at its last.", error=True)
            return
        first, last = sorted((self.span_start, self.index))
        if self.review:
            spans = [self.trace.tokens[step].span for step in (first, last)]
            if spans[0] is None or spans[1] is None:
                self.set_message("Those tokens cannot be found in the review's text; mark other ones.", error=True)
                return
            start, end = spans[0][0], spans[1][1]
        else:
            start, end = first, last + 1
        self.spans.append((start, end))
        self.span_start = None
        self.set_message(f"Marked {start}:{end} {self._span_words(start, end)}; f ranks the units that follow it.")
        self.redraw()

    def action_clear_spans(self) -> None:
        self.spans, self.span_start = [], None
        self.set_message("The marked spans are forgotten.")
        self.redraw()

    def action_find(self) -> None:
        if not self.spans:
            self.set_message("Mark a span first: s at its first step, e at its last (then f).", error=True)
            return
        self._find(spans=list(self.spans))

    def action_probe(self) -> None:
        from engine.inspection.units import PROBES

        def ranked(name: str | None) -> None:
            if name is not None:
                self._find(probe=name)

        self.app.push_screen(ProbePicker([(name, probe.description) for name, probe in PROBES.items()]), ranked)

    def _find(self, spans: list[tuple[int, int]] | None = None, probe: str | None = None) -> None:
        from engine.inspection.inputs import InspectInputError
        from engine.inspection.units import find_units

        layer, direction = self.shown
        try:
            found = find_units(self.trace, layer, spans=spans, probe=probe, top=FOUND, direction=direction)
        except InspectInputError as error:
            self.set_message(str(error), error=True)
            return
        self.found = found
        what = "the marked text" if probe is None else f"the probe “{probe}”"
        self.found_what = f"units of layer {layer}{' backward' if direction else ''} whose h follows {what}"
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(
            Option(
                Text.assemble(
                    (f"unit {s.unit:>4}", "bold"),
                    f"  {s.score:+.3f}  ",
                    ("█" * round(abs(s.score) * 20), "green" if s.score > 0 else "red"),
                ),
                id=str(s.unit),
            )
            for s in found
        )
        options.highlighted = 0 if found else None
        self.set_message("")
        self.action_view("find")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.pinned = self.unit = int(event.option.id or 0)
        self.kind = "h"  # what Find ranked by
        self.action_view("heatmap")

    def _draw_find(self) -> None:
        from engine.inspection.units import SCORE_DEFINITION

        info = Text("marked: ", "bold")
        if self.spans:
            info.append(" · ".join(f"{a}:{b} {self._span_words(a, b)}" for a, b in self.spans))
        else:
            info.append("nothing yet (s at the first step of a span, e at its last)", "dim")
        if self.span_start is not None:
            info.append(f" · span open from step {self.span_start + 1}", "yellow")
        info.append("\nf ranks units by the marked text, p by a probe. ", "dim")
        info.append(SCORE_DEFINITION, "dim")
        if self.found_what:
            info.append(f"\n{self.found_what} (Enter shows a unit's heatmap):", "bold")
        self.query_one("#ins-find-info", Static).update(info)

    def _span_words(self, start: int, end: int) -> str:
        words = self.trace.text[start:end]
        shown = words if len(words) <= 24 else words[:21] + "…"
        return "“" + shown.replace("\n", "↵") + "”"
