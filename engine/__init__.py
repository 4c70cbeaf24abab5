"""Torch-only core: recurrent cells and their step-by-step math.

Submodules import torch; this package itself imports nothing heavy, so the UI can
import it lazily, off its event loop.
"""
