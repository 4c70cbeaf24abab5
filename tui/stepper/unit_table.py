"""A table of labelled rows over many units that never cuts a number: it pages its columns.

A hidden size of 16 is 16 columns of `-0.3004`: more than 80 (or even half of 160) terminal
columns hold. `UnitTable` shows the unit columns that fit the width it is given, whole, a page at
a time (`[` `]` in the Stepper), and its title says which ones are on screen, how many rows it
has below the fold, and the keys that show the rest. The first column (the row labels) stays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

Cell = str | Text

PAGE_KEYS = "[ ]"
SCROLL_KEYS = "↑↓"


class UnitTable(DataTable):
    """Rows of cells under unit columns; as many columns as fit `budget()`, from `first` on."""

    class Fitted(Message):
        """The columns shown changed: whether there is a page to turn may have too."""

        def __init__(self, table: UnitTable) -> None:
            super().__init__()
            self.table = table

    @property
    def pages(self) -> bool:
        """Are some unit columns off screen?"""
        return 0 < self.shown < len(self.unit_names)

    def __init__(self, budget: Callable[[UnitTable], int] | None = None, **kwargs) -> None:
        kwargs.setdefault("cursor_type", "none")
        super().__init__(**kwargs)
        self.can_focus = False
        self._budget = budget
        self.title = ""
        self.corner = ""
        self.unit_names: list[str] = []
        self.rows_data: list[tuple[Cell, list[Cell]]] = []
        self.first = 0  # the first unit column shown
        self.shown = 0  # how many unit columns are shown
        self._fitted_for = -1  # the width the columns were chosen for

    # ------------------------------------------------------------------ data

    def set_rows(
        self, title: str, corner: str, unit_names: Sequence[str], rows: Sequence[tuple[Cell, Sequence[Cell]]]
    ) -> None:
        """Replace the contents; the page of units shown stays where it was while it still exists."""
        self.title, self.corner = title, corner
        self.unit_names = list(unit_names)
        self.rows_data = [(label, list(cells)) for label, cells in rows]
        self.fit()

    def page(self, direction: int) -> bool:
        """Show the next (+1) or previous (-1) page of units; False when there is none that way."""
        if not self.shown or len(self.unit_names) <= self.shown:
            return False
        first = min(max(self.first + direction * self.shown, 0), len(self.unit_names) - 1)
        if direction < 0 and self.first > 0:
            first = max(self.first - self.shown, 0)
        if first == self.first:
            return False
        self.first = first
        self.fit()
        return True

    # ---------------------------------------------------------------- layout

    def available_width(self) -> int:
        """The columns this table may take, borders and scrollbar included."""
        if self._budget is not None:
            return self._budget(self)
        return self.size.width

    def fit(self) -> None:
        """Rebuild the columns for the width available now (a no-op before the first layout)."""
        width = self.available_width()
        self._fitted_for = width
        if width <= 0:
            return  # not laid out yet: on_resize fits it
        count = self._count_that_fits(width)
        if self.unit_names:
            self.first = min(self.first, max(len(self.unit_names) - count, 0))
        self.shown = min(count, len(self.unit_names))
        last = self.first + self.shown
        scroll_y, cursor = self.scroll_y, self.cursor_row
        self.clear(columns=True)
        # Widths given, not measured later on idle: a frame drawn before that would cut numbers.
        self.add_column(self.corner, key="label", width=self._label_width())
        for j, name in enumerate(self.unit_names[self.first : last], start=self.first):
            widest = max([_width(name)] + [_width(cells[j]) for _, cells in self.rows_data if j < len(cells)])
            self.add_column(name, width=widest)
        for label, cells in self.rows_data:
            shown = cells[self.first : last]
            self.add_row(label, *shown, *[""] * (self.shown - len(shown)))
        if self.cursor_type == "row" and self.row_count:
            self.move_cursor(row=min(cursor, self.row_count - 1), animate=False)
        self.scroll_to(y=scroll_y, animate=False, immediate=True)
        self.update_title()
        self.post_message(self.Fitted(self))

    def _count_that_fits(self, width: int) -> int:
        padding = 2 * self.cell_padding
        chrome = self.styles.gutter.width + 2  # borders and padding, and room for a vertical scrollbar
        label = self._label_width() + padding
        column = (
            max(
                [_width(name) for name in self.unit_names]
                + [_width(cell) for _, cells in self.rows_data for cell in cells]
                + [1]
            )
            + padding
        )
        return max(1, (width - chrome - label) // column)

    def _label_width(self) -> int:
        return max([_width(self.corner)] + [_width(label) for label, _ in self.rows_data])

    def update_title(self) -> None:
        """The title, then which units and rows are on screen and the keys for the rest."""
        parts = [self.title] if self.title else []
        total = len(self.unit_names)
        if self.shown and self.shown < total:
            parts.append(
                f"{self.unit_names[self.first]}–{self.unit_names[self.first + self.shown - 1]} of {total} {PAGE_KEYS}"
            )
        visible = self.scrollable_content_region.height - self.header_height
        rows = len(self.rows_data)
        if self.size.height and 0 < visible < rows:
            top = min(round(self.scroll_y), rows - visible)
            parts.append(f"rows {top + 1}–{top + visible} of {rows} {SCROLL_KEYS}")
        self.border_title = " · ".join(parts)

    def on_resize(self) -> None:
        if self.available_width() != self._fitted_for:
            self.fit()
        else:
            self.update_title()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self.update_title()


def _width(cell: Cell) -> int:
    return cell.cell_len if isinstance(cell, Text) else Text(cell).cell_len
