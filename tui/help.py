"""The help screen (? or F1): every key in force, and what each Stepper view shows."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

ABOUT = """\
## The Stepper (F2)

The Stepper rebuilds a torch `nn.RNN`, `nn.LSTM` or `nn.GRU` exactly as chapter 15 does
(`torch.manual_seed(seed)` right before the layer) and recomputes its forward pass one time
step at a time from the layer's own parameters. Every intermediate sits next to torch's own
output; **max |Δ|** is the largest difference anywhere (float32).

- **1 Step**: the timeline of h_t against torch's, and for the current step every term of
  the cell (for an RNN: x_t·W_xhᵀ + b_xh, h_{t-1}·W_hhᵀ + b_hh, the pre-activation, h_t).
  For the chapter's own scenario, the printed book's erratum sits underneath: its loop adds
  b_hh where b_xh belongs. **[ ]** page through the units when a hidden size is too wide for
  the screen (the table's title says which are shown); **↑ ↓** scroll its rows.
- **2 Weights**: W_xh, W_hh, b_xh, b_hh of the layer shown, stacked in gate blocks for
  LSTM (i, f, g, o) and GRU (r, z, n), and the input sequence with the current step highlighted.
- **3 Gradients**: ‖∂L/∂h_t‖ for L = the sum of the top layer's output at the last step, on
  a log scale. A long tanh RNN shows gradients vanishing; scaling W_hh up shows them
  exploding. **k/K** truncate backpropagation through time, **x/X** set `clip_grad_norm_`.

## The Train pane (F3)

Every training run is a directory under the runs root (`rnn-tui --runs-dir`, default
`~/.local/share/rnn-tui/runs`) holding its config, metrics, status, checkpoints, samples and
log. The pane lists them all, including runs started headless with `rnn-tui train`, and shows
the selected one live: progress, throughput, ETA, curves (**m** cycles loss, accuracy or bits
per character, gradient norm and learning rate), the latest sample, the log (**o**) and, for a
failed run, its error. **n** starts a run (presets include the book's exact recipes), **p**
pauses or resumes, **s** stops with a final checkpoint, **r** resumes a stopped or failed run
from its checkpoint. **v** overlays the selected run on the plot (any number of runs, each with
its own marker; **V** clears), **z/Z** smooth less or more, **y** switches to a log y axis, **x**
plots against step, training time or tokens seen. **h** opens the table of every run and the
settings that differ (**s** sorts, **f** filters, space marks two for their diff, **p** plots
the marked). **e** renames a run and edits its tags and notes, **a** archives it (**A** shows
the archived), **d** deletes it after asking. Jobs run in their own processes: quitting asks
whether to stop them or leave them training.

The form's **Queue** button (**ctrl+t**) queues a run instead: queued runs start one after
another (at most `--max-parallel` at once, 1 on CPU, one per GPU), whether the app is open or
not. A queued run shows `queued #N`, its place in line: **+/-** move it up or down, **s**
cancels it, **r** starts it now. Runs of a sweep (`rnn-tui sweep`) show their sweep's name in
a column. **c** adds a column with what each running job costs (CPU, memory); the selected
run's line under its name shows CPU, memory, threads and, with NVML, its GPU's memory and load.

## The Generate pane (F4)

Type a prompt and press Enter: a character model (the latest best run by default; **m** picks
another) warms its state up on the prompt and writes one character at a time, carrying its
state, so the text streams in at the same speed however long it grows. **Esc** cancels. From
the output, **t/T** lower or raise the temperature (0 is greedy; the book's `scale_factor` is
1/T), **k/K** top-k, **p/P** top-p, **l/L** the length, all live; **e** types exact values
(seed, stop string too), **g** generates again with the next seed, **w** saves the text in the
run's `generations/` folder. The chart is the distribution of the next character after
temperature and filtering; change the temperature and watch it sharpen or flatten. **d** shows
two temperatures side by side (**y/Y** set the second), from the same prompt and seed.
**c** switches to classifying: paste a review, press Enter, and a sentiment model gives
P(positive), with each word coloured by how much leaving it out changes the logit.

The command palette (ctrl+p) has the scenarios: the chapter's, LSTM, GRU, vanishing and
exploding gradients. Keys can be remapped with `rnn-tui --keymap FILE` (a JSON object of
binding ids to keys; the ids are listed below).
"""


class HelpScreen(ModalScreen[None]):
    """Keys and views, generated from the bindings actually in force, in one section per pane and form."""

    BINDINGS = [Binding("escape,question_mark,f1,q", "dismiss", "Close", id="help.close", tooltip="Close the help")]

    def __init__(self, sections: list[tuple[str, list[Binding]]]) -> None:
        super().__init__()
        self.sections = sections  # tui.bindings.owned_sections: every remappable binding, by where it applies

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Markdown(self.keys_markdown() + "\n" + ABOUT)

    def keys_markdown(self) -> str:
        lines = [
            "## Keys",
            "",
            "A key can mean different things in different panes: each table lists one pane or form.",
        ]
        keymap = getattr(self.app, "user_keymap", {})
        for index, (title, bindings) in enumerate(self.sections):
            lines += ["", f"### {title}", "", "| key | action | binding id |", "| --- | --- | --- |"]
            for binding in bindings:
                key = keymap.get(binding.id or "", binding.key)
                shown = ", ".join(self.app.get_key_display(Binding(k.strip(), "")) for k in key.split(","))
                lines.append(f"| `{shown}` | {describe(binding)} | `{binding.id}` |")
            if index == 0:
                lines.append("| `ctrl+p` | Command palette: actions and scenarios | |")
        return "\n".join(lines) + "\n"


def describe(binding: Binding) -> str:
    """What a key does, in words: its tooltip, else its footer label as a sentence, never an action's name."""
    text = binding.tooltip or binding.description or (binding.id or "?").rpartition(".")[2].replace("_", " ")
    return (text[0].upper() + text[1:]).replace("|", "\\|")
