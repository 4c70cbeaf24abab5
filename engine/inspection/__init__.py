"""Inside a trained network: every gate, cell state and hidden state of your own model on your own text.

LSTMVis-style inspection of what `engine.generation.loading.load_model` loaded, recomputed by our
own recurrence next to torch's output for the same layer (max |Δ| reported). It loads nothing
itself: hand it a `LoadedModel` and a text.

    inputs      InspectInputError, the text limit and "START:END" spans (torch-free)
    recurrence  one layer's recurrence over a whole text, step by step, beside torch; LayerActivity
    cache       the small LRU of finished traces
    charlm      trace_text: a character model over a text, with its next-character predictions
    sentiment   trace_review: a review classifier over a review, with P(positive) as it reads
    units       which units follow a marked span or a built-in probe (Pearson correlation)

Like every wing, this `__init__` imports nothing: import the module you need.
"""
