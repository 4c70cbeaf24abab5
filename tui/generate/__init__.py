"""The Generate pane (F4): streamed generation, live sampling keys, the next-character chart and classify mode.

pane.py            GeneratePane: holds the model process, loads models, routes replies, switches modes
generate_view.py   the generate mode: prompt, streaming, live settings, side by side, cancel, save
model_process.py   the pane's side of `python -m engine.generation.worker` (typed requests and replies)
widgets.py         the widgets that take keys: prompt (with history), output and chart, review, result
readouts.py        what is only shown: the model, settings and status lines, the next-character chart
stream_view.py     the scrolling output that grows at its end
classify_view.py   drawing a classification
settings_form.py   the sampling settings form (e)
saving.py          saving the output (w)

The model picker (m) is tui/run_picker.py, shared with the Stepper.
"""
