"""The generation wing: talking to what you trained.

    settings.py   sampling settings, validated from typed strings (torch-free)
    loading.py    finding a run's checkpoint and rebuilding its model on a device
    sampler.py    the Sampler (one character per step, O(1) each) and the next-character distribution
    classify.py   P(positive) for a review and per-token occlusion
    messages.py   the typed messages between the Generate pane and its model process
    worker.py     the model process: `python -m engine.generation.worker`

It reads engine.training's runs and checkpoints; training never imports it.
"""
