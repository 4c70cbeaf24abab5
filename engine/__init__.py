"""The core, free of any UI, in wings that depend downward only (import-linter contracts in pyproject.toml).

    inspection/   a trained model stepped over the user's text: our recurrence beside torch's,
                  predictions and surprise, P(positive) as a review is read, unit search
    generation/   sampling settings (torch-free), loading a run's model, the sampler, classify,
                  the Generate pane's model process and its typed messages; reads training's runs
    training/     config and presets (torch-free), runs (torch-free), checkpoints, the trainer,
                  the two jobs and the session that registers them, torchrun/DDP, job processes
    models.py     the chapter's two models and the character model's one-step fast path
    stepper/      the Stepper: scenarios (torch-free), step equations, traces against torch,
                  gradients through time; imports neither training nor generation
    cells.py      the one registry of cells (rnn, lstm, gru: gates, torch module, ATen ops)
    devices.py    the one list of devices and `resolve_device`
    numbers.py    the one number parser behind every flag and form, and the seed range

Each wing's `__init__` imports nothing: import the module you need. The torch-free modules
(cells, devices, numbers, stepper.scenario, training.config, training.runs, training.jobs,
generation.settings) are safe on the UI's first-frame path; the rest import torch.
"""
