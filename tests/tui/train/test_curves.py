"""The plot's arithmetic: smoothing, points on each x axis, whole-number ticks, thinning."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tui.train.curves import MARKERS, ema, overlay_metrics, points, seen_per_step, style_of, thin, x_ticks, y_ticks


def test_ema_matches_tensorboards_debiased_smoothing():
    values = [1.0, 2.0, 3.0]
    weight = 0.5
    # By hand: last = 0.5*0 + 0.5*1 = 0.5 -> /0.5 = 1; 0.25+1 = 1.25 -> /0.75; 0.625+1.5 = 2.125 -> /0.875
    assert ema(values, weight) == pytest.approx([1.0, 1.25 / 0.75, 2.125 / 0.875])
    assert ema(values, 0.0) == values


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.sampled_from([0.6, 0.9, 0.99]))
def test_ema_stays_within_the_values(values, weight):
    smoothed = ema(values, weight)
    assert len(smoothed) == len(values)
    assert all(
        min(values) - 1e-6 * (1 + abs(min(values))) <= s <= max(values) + 1e-6 * (1 + abs(max(values)))
        for s in smoothed
    )


def test_points_follow_the_x_axis_and_skip_what_cannot_be_drawn():
    records = [
        {"step": 10, "time": 1.5, "val_loss": 2.0},
        {"step": 20, "time": 3.0, "val_loss": float("nan")},
        {"step": 30, "time": 4.5, "val_loss": -1.0},
        {"step": 40, "val_loss": True},
        {"time": 6.0, "val_loss": 1.0},
    ]
    assert points(records, "val_loss", "step", None, False) == ([10.0, 30.0], [2.0, -1.0])
    assert points(records, "val_loss", "step", None, True) == ([10.0], [2.0])  # log: positive only
    assert points(records, "val_loss", "time", None, False) == ([1.5, 4.5], [2.0, -1.0])
    assert points(records, "val_loss", "seen", 32 * 40, False) == ([12_800.0, 38_400.0], [2.0, -1.0])
    assert points(records, "val_loss", "seen", None, False) == ([], [])


def test_tokens_seen_per_step_come_from_the_config():
    assert seen_per_step("charlm", {"batch_size": 64, "seq_length": 100}) == 6400
    assert seen_per_step("sentiment", {"batch_size": 32}) == 32
    assert seen_per_step("charlm", {"batch_size": 64}) is None
    assert seen_per_step("sentiment", {"batch_size": True}) is None


@pytest.mark.parametrize(("low", "high"), [(0, 110), (0, 7), (0, 1), (100, 3000), (0, 2_500_000)])
def test_step_ticks_are_whole_numbers(low, high):
    ticks, labels = x_ticks(low, high, "step", 78)
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert all("." not in label or label.endswith(("k", "M")) for label in labels)
    assert low <= ticks[0] and ticks[-1] <= high
    assert len(ticks) <= 78 // 12 + 2


def test_time_ticks_read_as_clock_times():
    ticks, labels = x_ticks(0, 3000, "time", 78)
    assert labels[0] == "0s" and all(tick % 60 == 0 for tick in ticks) and ":" in labels[1]


def test_y_tick_labels_share_one_format():
    _, labels = y_ticks(0.27, 3.1, 12)
    decimals = {len(label.split(".")[1]) if "." in label else 0 for label in labels}
    assert len(decimals) == 1
    assert y_ticks(5.0, 5.0, 12)[0]  # a flat line still gets ticks


def test_thin_keeps_the_ends_and_the_limit():
    xs = list(range(10_000))
    few_x, few_y = thin([float(x) for x in xs], [float(x) for x in xs], 150)
    assert len(few_x) <= 152 and few_x[0] == 0 and few_x[-1] == 9999 and few_x == few_y


def test_series_styles_differ_without_colour_and_overlays_start_at_validation():
    assert len({style_of(i)[0] for i in range(len(MARKERS))}) == len(MARKERS)
    assert overlay_metrics("charlm")[0] == "val_loss" and overlay_metrics("sentiment")[:2] == ["val_loss", "val_acc"]
    assert not math.isnan(ema([1.0], 0.99)[0])
