"""The BPTT window and clipping ladders behind k/K and x/X, without the app."""

from __future__ import annotations

from dataclasses import replace

from engine.stepper.scenario import StepperConfig
from tui.stepper.pane import CLIP_LADDER, clip_after, truncation_after


def test_truncation_shortens_from_full_bptt_and_lengthens_back_to_it():
    config = StepperConfig()  # three steps, full BPTT
    assert truncation_after(config, -1) == (2, "Gradients stop 2 steps back from the loss.")
    assert truncation_after(replace(config, truncation=1), -1)[0] == 1  # never below one step
    assert truncation_after(replace(config, truncation=2), 1) == (None, "Full backpropagation through time.")
    assert truncation_after(config, 1)[0] is None


def test_clipping_walks_the_ladder_and_stops_at_its_ends():
    config = StepperConfig()
    assert clip_after(config, 1) == (100.0, "clip_grad_norm_ at 100.")
    assert clip_after(config, -1) == (None, "No gradient clipping.")
    assert clip_after(replace(config, clip=CLIP_LADDER[-1]), 1)[0] == CLIP_LADDER[-1]
    assert clip_after(replace(config, clip=3.0), 1)[0] == 100.0  # off the ladder: start from no clipping
