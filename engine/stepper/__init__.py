"""The Stepper's wing: one recurrent layer recomputed time step by time step, exact against torch.

    scenario.py   what to build and on which input, validated from typed strings (torch-free)
    steps.py      the step equations of the RNN, LSTM and GRU cells, term by term
    trace.py      every step of every layer and direction, beside torch's own outputs
    bptt.py       gradients through time: per-step norms, truncation, clipping
    run.py        `run_stepper(config)`: the layer, its trace, the gradient flow and the book's erratum

It imports neither engine.training nor engine.generation.
"""
