"""The core, free of any UI: cells and their step-by-step math, models, training, jobs and run directories.

Most submodules import torch; this package itself imports nothing heavy, and the ones the UI
uses on its event loop (scenario, runs, train_config, jobs) import no torch at all.
"""
