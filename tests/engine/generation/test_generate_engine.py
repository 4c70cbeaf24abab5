"""engine.generation.sampler: settings, filtering, loading checkpoints and the Sampler against the model's own forward pass."""

from __future__ import annotations

import math
import threading

import pytest
import torch
from generation_helpers import assert_one_sentence, make_charlm_run, make_sentiment_run
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from corpora.vocab import CharVocab
from engine.generation.loading import LoadedModel, default_run, find_checkpoint, load_model, model_runs
from engine.generation.sampler import Sampler, filter_probs, generate, prepare_prompt
from engine.generation.settings import MAX_LENGTH, GenerateInputError, SamplingSettings, parse_settings
from engine.numbers import MIN_TEMPERATURE
from engine.training.config import parse_train_config
from engine.training.jobs import create_run


def full_logits(loaded: LoadedModel, text: str) -> torch.Tensor:
    """The model's own forward pass over `text`: logits [T, V]."""
    ids = torch.as_tensor(loaded.vocab.encode(text))
    with torch.no_grad():
        logits, _ = loaded.model(ids[None])
    return logits[0]


# ---------------------------------------------------------------------------------- settings


def test_settings_parse_strings_and_numbers():
    settings = parse_settings(temperature="0.5", top_k="40", top_p="0.9", length="1,000", seed="7", stop="\n")
    assert settings == SamplingSettings(temperature=0.5, top_k=40, top_p=0.9, length=1000, seed=7, stop="\n")
    assert settings.scale_factor == 2.0
    assert parse_settings(temperature=0).scale_factor is None and parse_settings(temperature=0).greedy
    assert parse_settings(top_k=3.0, length=10).top_k == 3
    assert SamplingSettings().replace(temperature="0.25", top_k=2) == SamplingSettings(temperature=0.25, top_k=2)


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("temperature", "-1", "temperature must be a number of at least 0"),
        ("temperature", "abc", "temperature must be a number"),
        ("temperature", "nan", "temperature"),
        ("temperature", "inf", "temperature"),
        ("top_p", "0", "top-p must be a number above 0 and at most 1"),
        ("top_p", "1.5", "top-p"),
        ("top_k", "-1", "top-k must be a whole number of at least 0"),
        ("top_k", "2.5", "top-k"),
        ("length", "0", f"from 1 to {MAX_LENGTH:,}"),
        ("length", str(MAX_LENGTH + 1), "length"),
        ("length", "", "not a blank"),
        ("seed", "x", "seed must be a whole number"),
    ],
)
def test_bad_settings_get_one_sentence(field, value, words):
    with pytest.raises(GenerateInputError) as caught:
        parse_settings(**{field: value})
    assert words in str(caught.value)
    assert_one_sentence(str(caught.value))
    with pytest.raises(GenerateInputError):
        SamplingSettings().replace(**{field: value})


def test_settings_reject_bad_values_in_the_constructor():
    with pytest.raises(GenerateInputError):
        SamplingSettings(temperature=-0.1)
    with pytest.raises(GenerateInputError):
        SamplingSettings(top_p=float("nan"))
    with pytest.raises(GenerateInputError):
        SamplingSettings().replace(colour="red")


# ---------------------------------------------------------------------------------- filter_probs


def test_filter_probs_temperature_and_greedy():
    logits = torch.tensor([2.0, 1.0, 0.5, -1.0, 3.0])
    torch.testing.assert_close(filter_probs(logits, SamplingSettings()), torch.softmax(logits, 0))
    torch.testing.assert_close(filter_probs(logits, SamplingSettings(temperature=0.5)), torch.softmax(logits / 0.5, 0))
    greedy = filter_probs(logits, SamplingSettings(temperature=0))
    assert greedy.tolist() == [0, 0, 0, 0, 1] and greedy.dtype == torch.float32
    tiny = filter_probs(logits, SamplingSettings(temperature=MIN_TEMPERATURE))  # no overflow to NaN
    assert tiny.tolist() == [0, 0, 0, 0, 1]


@pytest.mark.parametrize("value", ["1e-46", "1e-30", "0.0009", "5e-324"])
def test_temperatures_between_0_and_the_minimum_are_refused(value):
    with pytest.raises(GenerateInputError) as caught:
        parse_settings(temperature=value)
    assert f"must be 0 (always the likeliest character) or at least {MIN_TEMPERATURE:g}" in str(caught.value)
    assert_one_sentence(str(caught.value))
    assert parse_settings(temperature="0.001").temperature == MIN_TEMPERATURE


@hypothesis_settings(max_examples=150, deadline=None)
@given(
    logits=st.lists(st.floats(-1e4, 1e4, allow_nan=False, width=32), min_size=1, max_size=12),
    temperature=st.just(0.0) | st.floats(MIN_TEMPERATURE, 1e6),
    top_k=st.integers(0, 14),
    top_p=st.floats(1e-9, 1.0, exclude_min=False),
)
def test_no_accepted_setting_gives_nan(logits, temperature, top_k, top_p):
    settings = SamplingSettings(temperature=temperature, top_k=top_k, top_p=top_p)
    probs = filter_probs(torch.tensor(logits), settings)
    assert bool(torch.isfinite(probs).all()) and bool((probs >= 0).all())
    assert math.isclose(float(probs.sum()), 1.0, rel_tol=1e-4)
    torch.multinomial(probs, 1)  # what the Sampler does with them: raises on inf, nan or a negative


@hypothesis_settings(max_examples=25, deadline=None)
@given(temperature=st.floats(MIN_TEMPERATURE, 1e6), scale=st.sampled_from([1.0, 1e3]))
def test_the_training_samplers_loop_never_gives_nan(temperature, scale):
    from engine.models import sample_ids

    class Loud(torch.nn.Module):  # logits far apart, as a confident model gives them
        def forward(self, ids, state=None):
            return torch.linspace(-scale, scale, 7).expand(1, ids.shape[1], 7), state

    drawn = sample_ids(
        Loud(), torch.tensor([0]), 5, temperature=temperature, generator=torch.Generator().manual_seed(0)
    )
    assert len(drawn) == 5 and all(0 <= index < 7 for index in drawn)


def test_top_k_keeps_exactly_the_k_likeliest():
    logits = torch.tensor([2.0, 1.0, 0.5, -1.0, 3.0, 0.7])
    probs = filter_probs(logits, SamplingSettings(top_k=3))
    assert set(torch.nonzero(probs).flatten().tolist()) == {4, 0, 1}
    torch.testing.assert_close(probs[[4, 0, 1]], torch.softmax(logits[[4, 0, 1]], 0))
    ties = filter_probs(torch.zeros(6), SamplingSettings(top_k=2))  # ties: still exactly k
    assert int((ties > 0).sum()) == 2 and math.isclose(float(ties.sum()), 1.0, rel_tol=1e-6)
    assert torch.equal(filter_probs(logits, SamplingSettings(top_k=100)), filter_probs(logits, SamplingSettings()))


def test_top_p_keeps_the_smallest_nucleus():
    probs = torch.tensor([0.05, 0.5, 0.15, 0.3])
    logits = probs.log()
    for p, kept in ((0.3, {1}), (0.7, {1, 3}), (0.85, {1, 3, 2}), (0.99, {0, 1, 2, 3}), (1.0, {0, 1, 2, 3})):
        out = filter_probs(logits, SamplingSettings(top_p=p))
        assert set(torch.nonzero(out).flatten().tolist()) == kept, p
        assert math.isclose(float(out.sum()), 1.0, rel_tol=1e-6)
        expected = torch.zeros(4)
        index = torch.tensor(sorted(kept))
        expected[index] = probs[index] / probs[index].sum()
        torch.testing.assert_close(out, expected)


def test_top_k_comes_before_top_p_and_temperature_before_both():
    logits = torch.tensor([0.0, 1.0, 2.0, 3.0])
    out = filter_probs(logits, SamplingSettings(temperature=2.0, top_k=3, top_p=0.6))
    renormalised = torch.softmax(torch.tensor([3.0, 2.0, 1.0]) / 2.0, 0)  # 0.51, 0.31, 0.19
    assert renormalised[0] < 0.6 < renormalised[0] + renormalised[1]
    expected = torch.zeros(4)
    expected[3], expected[2] = renormalised[0], renormalised[1]
    torch.testing.assert_close(out, expected / expected.sum())


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    logits=st.lists(st.floats(-20, 20, allow_nan=False), min_size=1, max_size=30),
    temperature=st.sampled_from([0.0, 0.3, 1.0, 2.5]),
    top_k=st.integers(0, 35),
    top_p=st.sampled_from([1.0, 0.95, 0.5, 0.1, 1e-6]),
)
def test_filtered_probabilities_are_a_distribution_on_a_minimal_support(logits, temperature, top_k, top_p):
    x = torch.tensor(logits)
    settings = SamplingSettings(temperature=temperature, top_k=top_k, top_p=top_p)
    probs = filter_probs(x, settings)
    assert probs.shape == x.shape and bool((probs >= 0).all())
    assert math.isclose(float(probs.sum()), 1.0, rel_tol=1e-5)
    support = int((probs > 0).sum())
    assert support >= 1
    if top_k:
        assert support <= top_k
    assert float(x[probs > 0].min()) >= float(x[probs == 0].max()) if support < len(logits) else True
    if top_p < 1 and support > 1 and temperature > 0:
        # Minimal: dropping the least likely kept one would leave less than p of the (top-k) mass.
        base = filter_probs(x, SamplingSettings(temperature=temperature, top_k=top_k))
        kept = base[probs > 0].sort(descending=True).values
        assert float(kept[:-1].sum()) < top_p + 1e-6


# ---------------------------------------------------------------------------------- loading


def test_load_model_by_name_directory_and_file(charlm_run, model_root):
    by_name = load_model("charlm-tiny", runs_root=model_root)
    by_dir = load_model(str(charlm_run.path))
    by_file = load_model(charlm_run.checkpoints / "last.pt")
    assert by_name.job == by_dir.job == by_file.job == "charlm"
    assert (
        by_name.name == "charlm-tiny" and by_name.checkpoint.name == "best.pt" and by_file.checkpoint.name == "last.pt"
    )
    assert by_file.run == charlm_run and by_name.step == 150
    assert not by_name.model.training and by_name.device == torch.device("cpu")
    assert by_name.describe().startswith("LSTM E16 H32 · step 150 · val_loss ")
    assert by_name.describe().endswith("(best.pt)")
    assert by_name.best["metric"] == "val_loss"


def test_loading_leaves_the_global_rng_alone(charlm_run):
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    load_model(charlm_run)
    assert torch.equal(torch.rand(3), expected)


def test_a_sentiment_checkpoint_is_not_a_character_model(sentiment_run):
    for spec in (sentiment_run, sentiment_run.checkpoints / "best.pt"):
        with pytest.raises(GenerateInputError) as caught:
            load_model(spec, job="charlm")
        assert "is a sentiment run; rnn-tui generate needs a character model (charlm)." in str(caught.value)
        assert_one_sentence(str(caught.value))


def test_a_charlm_checkpoint_is_not_a_sentiment_model(charlm_run):
    with pytest.raises(GenerateInputError, match="is a charlm run; rnn-tui classify needs a sentiment model"):
        load_model(charlm_run, job="sentiment")


def test_corrupt_and_foreign_checkpoints_get_one_sentence(tmp_path):
    run = make_charlm_run(tmp_path / "runs")
    best = run.checkpoints / "best.pt"
    best.write_bytes(best.read_bytes()[:200])  # truncated
    with pytest.raises(GenerateInputError) as caught:
        load_model(run)
    assert "corrupt" in str(caught.value)
    assert_one_sentence(str(caught.value))
    best.write_bytes(b"not a torch file at all")
    with pytest.raises(GenerateInputError) as caught:
        load_model(run)
    assert_one_sentence(str(caught.value))
    torch.save({"weights": torch.zeros(2)}, best)
    with pytest.raises(GenerateInputError, match="not an rnn-tui checkpoint"):
        load_model(run)


def test_a_checkpoint_that_does_not_fit_its_config(tmp_path):
    from engine.training.checkpoint import load_checkpoint, save_checkpoint

    run = make_charlm_run(tmp_path / "runs")
    data = load_checkpoint(run.checkpoints / "best.pt")
    data["config"]["hidden_size"] = 64
    save_checkpoint(run.checkpoints / "best.pt", data)
    with pytest.raises(GenerateInputError) as caught:
        load_model(run)
    assert "does not fit the model its settings describe" in str(caught.value)
    assert_one_sentence(str(caught.value))


def test_missing_runs_and_checkpoints(tmp_path):
    root = tmp_path / "runs"
    with pytest.raises(GenerateInputError, match="There is no run 'nope'"):
        load_model("nope", runs_root=root)
    with pytest.raises(GenerateInputError, match="There is no checkpoint file"):
        load_model(tmp_path / "missing.pt")
    config = parse_train_config("charlm", "default", data="x.txt", steps=10)
    fresh = create_run(root, config, "fresh")
    with pytest.raises(GenerateInputError) as caught:
        load_model("fresh", runs_root=root)
    assert str(caught.value).startswith("The run fresh has no checkpoint yet;")
    assert_one_sentence(str(caught.value))
    with pytest.raises(GenerateInputError):
        find_checkpoint(fresh)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_one_sentence(charlm_run):
    with pytest.raises(GenerateInputError) as caught:
        load_model(charlm_run, device="cuda")
    assert "CUDA was asked for" in str(caught.value)
    assert_one_sentence(str(caught.value))
    with pytest.raises(GenerateInputError, match="Unknown device"):
        load_model(charlm_run, device="tpu")
    assert load_model(charlm_run, device="auto").device.type in ("cpu", "mps")


def test_model_runs_and_the_default_run(tmp_path):
    import os
    import time

    root = tmp_path / "runs"
    assert model_runs(root) == [] and default_run(root, "charlm") is None
    older = make_charlm_run(root, name="older")
    newer_last_only = make_charlm_run(root, name="newer", best=False)
    sentiment = make_sentiment_run(root, train_steps=1)
    create_run(root, parse_train_config("charlm", "default", data="x.txt", steps=5), "no-checkpoint")
    now = time.time()
    os.utime(older.checkpoints / "best.pt", (now - 100, now - 100))
    os.utime(older.checkpoints / "last.pt", (now - 100, now - 100))
    assert model_runs(root, "charlm") == [newer_last_only, older]
    assert set(model_runs(root)) == {newer_last_only, older, sentiment}
    assert default_run(root, "charlm") == older  # the newest with a best.pt wins over a newer last.pt
    assert default_run(root, "sentiment") == sentiment
    (older.checkpoints / "best.pt").unlink()
    assert default_run(root, "charlm") == newer_last_only


# ---------------------------------------------------------------------------------- prompts


def test_prompt_characters_outside_the_vocabulary_are_left_out():
    vocab = CharVocab("abc \n")
    report = prepare_prompt(vocab, "abé c€é")
    assert report.text == "ab c" and report.missing == ("é", "€")
    assert report.message == (
        "The characters 'é', '€' are not in the model's vocabulary of 5 characters, so they were left out of the prompt."
    )
    one = prepare_prompt(vocab, "aé")
    assert one.message.startswith("The character 'é' is not in") and "so it was left out" in one.message
    assert prepare_prompt(vocab, "abc") == ("abc", (), None) or prepare_prompt(vocab, "abc").message is None


def test_an_empty_prompt_starts_from_a_sensible_character():
    assert prepare_prompt(CharVocab("ab \n"), "").text == "\n"
    assert "starts from a newline" in prepare_prompt(CharVocab("ab \n"), "").message
    assert prepare_prompt(CharVocab("ab "), "").text == " "
    assert prepare_prompt(CharVocab("ba"), "").text == "a"
    everything_missing = prepare_prompt(CharVocab("ab \n"), "éé")
    assert everything_missing.text == "\n" and everything_missing.missing == ("é",)
    assert_one_sentence(everything_missing.message)


def test_a_prompt_with_missing_characters_still_generates(charlm):
    sampler = Sampler(charlm, "Thé island€", SamplingSettings(length=20))
    assert sampler.prompt.text == "Th island" and sampler.prompt.missing == ("é", "€")
    assert len("".join(sampler)) == 20
    empty = Sampler(charlm, "", SamplingSettings(length=5))
    assert empty.prompt.text == "\n" and len(generate(charlm, "", SamplingSettings(length=5))) == 5
    assert empty.next_char()


# ---------------------------------------------------------------------------------- the Sampler


def test_same_seed_same_text_other_seed_other_text(charlm):
    settings = SamplingSettings(length=200, seed=3)
    first = generate(charlm, "The ", settings)
    assert len(first) == 200
    assert generate(charlm, "The ", settings) == first
    assert generate(charlm, "The ", settings.replace(seed=4)) != first
    sampler = Sampler(charlm, "The ", settings)
    assert "".join(sampler) == first == sampler.text
    assert sampler.produced == 200 and sampler.done and sampler.stop_reason == "length"
    assert sampler.next_char() == ""


def test_greedy_is_deterministic_and_follows_the_argmax(charlm):
    settings = SamplingSettings(temperature=0, length=60)
    text = generate(charlm, "The ", settings)
    assert generate(charlm, "The ", settings.replace(seed=99)) == text
    logits = full_logits(charlm, "The " + text)
    chars = charlm.vocab.chars
    assert [chars[i] for i in logits[3:-1].argmax(dim=1).tolist()] == list(text)


@pytest.mark.parametrize("cell, layers", [("lstm", 1), ("lstm", 2), ("gru", 2), ("rnn", 2)])
def test_carried_state_equals_a_full_rerun(tmp_path, cell, layers):
    run = make_charlm_run(tmp_path / "runs", cell=cell, layers=layers, train_steps=20)
    loaded = load_model(run)
    sampler = Sampler(loaded, "The river", SamplingSettings(length=300, seed=2))
    text = "".join(sampler)
    torch.testing.assert_close(sampler.logits, full_logits(loaded, "The river" + text)[-1], atol=1e-5, rtol=1e-5)


def test_carried_state_equals_a_full_rerun_for_the_trained_model(charlm):
    sampler = Sampler(charlm, "The", SamplingSettings(length=400, temperature=0.8, top_k=10, top_p=0.95))
    text = "".join(sampler)
    torch.testing.assert_close(sampler.logits, full_logits(charlm, "The" + text)[-1], atol=1e-5, rtol=1e-5)
    # And at the start, before anything is drawn: the prompt's last position.
    fresh = Sampler(charlm, "The", SamplingSettings())
    torch.testing.assert_close(fresh.logits, full_logits(charlm, "The")[-1], atol=1e-5, rtol=1e-5)


def test_top_k_draws_stay_in_the_top_k_with_the_filtered_frequencies(charlm):
    settings = SamplingSettings(top_k=3, temperature=2.0, length=1)
    probs = filter_probs(Sampler(charlm, "The ", settings).logits, settings)
    top = set(torch.topk(probs, 3).indices.tolist())
    chars = charlm.vocab.chars
    draws = 2000
    counts: dict[str, int] = {}
    for seed in range(draws):
        char = Sampler(charlm, "The ", settings.replace(seed=seed)).next_char()
        counts[char] = counts.get(char, 0) + 1
    assert {chars.index(char) for char in counts} <= top
    expected = {chars[i]: draws * float(probs[i]) for i in top}
    assert min(expected.values()) > 20  # enough for a chi-square check
    chi_square = sum((counts.get(char, 0) - e) ** 2 / e for char, e in expected.items())
    assert chi_square < 13.8  # 2 degrees of freedom, p = 0.001


def test_settings_replaced_mid_generation_take_effect(charlm):
    sampler = Sampler(charlm, "The ", SamplingSettings(length=1000, seed=5))
    for _ in range(30):
        sampler.next_char()
    sampler.settings = sampler.settings.replace(temperature=0)
    for _ in range(30):
        expected = charlm.vocab.chars[int(sampler.logits.argmax())]
        assert sampler.next_char() == expected
    sampler.settings = sampler.settings.replace(length=sampler.produced + 5)
    assert len("".join(sampler)) == 5 and sampler.stop_reason == "length" and sampler.produced == 65
    sampler.settings = sampler.settings.replace(length=70)  # a longer length lets it go on
    assert not sampler.done and len("".join(sampler)) == 5


def test_settings_replaced_from_another_thread(charlm):
    sampler = Sampler(charlm, "The ", SamplingSettings(length=MAX_LENGTH))
    replaced = threading.Event()

    def shorten() -> None:
        sampler.settings = sampler.settings.replace(length=50)
        replaced.set()

    produced = 0
    for _char in sampler:
        produced += 1
        if produced == 10:
            threading.Thread(target=shorten).start()
            replaced.wait(5)
    assert produced == 50 and sampler.stop_reason == "length"


def test_a_stop_string_ends_generation_after_it(charlm):
    sampler = Sampler(charlm, "The ", SamplingSettings(length=2000, stop="fish."))
    text = "".join(sampler)
    assert text.endswith("fish.") and text.count("fish.") == 1
    assert sampler.done and sampler.stop_reason == "stop" and sampler.produced == len(text) < 2000
    newline = Sampler(charlm, "The ", SamplingSettings(length=2000, stop="\n"))
    assert "".join(newline).index("\n") == newline.produced - 1
    # The prompt's own text does not count: the stop string must be generated.
    prompt_only = Sampler(charlm, "fish.", SamplingSettings(length=3, stop="fish."))
    assert len("".join(prompt_only)) == 3 and prompt_only.stop_reason == "length"
    never = Sampler(charlm, "The ", SamplingSettings(length=30, stop="zzz"))
    assert len("".join(never)) == 30 and never.stop_reason == "length"


def test_candidates_are_the_next_character_distribution(charlm):
    sampler = Sampler(charlm, "The ", SamplingSettings(length=100, seed=8))
    raw = torch.softmax(sampler.logits, 0)
    candidates = sampler.candidates(top=10)
    assert len(candidates) == 10
    assert [c.prob for c in candidates] == sorted((c.prob for c in candidates), reverse=True)
    assert sum(c.prob for c in candidates) <= 1 + 1e-6
    for candidate in candidates:
        assert math.isclose(candidate.raw, float(raw[charlm.vocab.chars.index(candidate.char)]), rel_tol=1e-5)
        assert math.isclose(candidate.prob, candidate.raw, rel_tol=1e-5)  # default settings: no filtering
    top3 = sampler.candidates(top=10, settings=SamplingSettings(top_k=3))
    assert len(top3) == 3 and math.isclose(sum(c.prob for c in top3), 1.0, rel_tol=1e-5)
    assert [c.char for c in top3] == [c.char for c in candidates[:3]]
    greedy = sampler.candidates(settings=SamplingSettings(temperature=0))
    assert len(greedy) == 1 and greedy[0].prob == 1.0 and greedy[0].char == candidates[0].char
    everything = sampler.candidates(top=1000, settings=SamplingSettings(top_k=3), include_filtered=True)
    assert len(everything) == len(charlm.vocab) and all(c.prob == 0 for c in everything[3:])
    # Looking does not draw: the text is what an untouched sampler makes.
    text = "".join(sampler)
    assert text == generate(charlm, "The ", SamplingSettings(length=100, seed=8))
    # After drawing, the candidates are those of the position after the last character.
    assert sampler.candidates(top=1)[0].raw == pytest.approx(
        float(torch.softmax(full_logits(charlm, "The " + text)[-1], 0).max()), rel=1e-4
    )


def test_a_sampler_needs_a_character_model(sentiment):
    with pytest.raises(GenerateInputError, match="is a sentiment run"):
        Sampler(sentiment, "hello", SamplingSettings())


def test_charlm_sample_uses_the_same_draws(charlm):
    """CharLM.sample (the trainer's samples) and the Sampler draw the same text for the same seed."""
    prompt = torch.as_tensor(charlm.vocab.encode("The "))
    ids = charlm.model.sample(prompt, 80, temperature=0.7, generator=torch.Generator().manual_seed(4))
    text = generate(charlm, "The ", SamplingSettings(temperature=0.7, length=80, seed=4))
    assert charlm.vocab.decode(ids) == text


def test_the_module_path_gives_the_same_text(charlm, monkeypatch):
    """Models the fast step does not cover fall back to the module's own forward, with the same draws."""
    from engine.generation.loading import LoadedModel
    from engine.models import CharLMStep

    settings = SamplingSettings(length=120, seed=6, temperature=0.9)
    fast = generate(charlm, "The ", settings)
    fallback = LoadedModel(
        **{
            name: getattr(charlm, name)
            for name in ("job", "name", "checkpoint", "run", "step", "config", "best", "model", "vocab", "device")
        }
    )
    monkeypatch.setattr(CharLMStep, "supports", staticmethod(lambda model: False))
    sampler = Sampler(fallback, "The ", settings)
    assert not sampler.uses_fast_step and "".join(sampler) == fast


def test_a_checkpoint_trained_on_a_gpu_loads_on_the_cpu(tmp_path):
    from engine.training.checkpoint import load_checkpoint, save_checkpoint

    run = make_charlm_run(tmp_path / "runs", train_steps=5)
    data = load_checkpoint(run.checkpoints / "best.pt")
    data["config"].update(device="cuda", amp="bf16")
    save_checkpoint(run.checkpoints / "best.pt", data)
    loaded = load_model(run, device="cpu")
    assert loaded.device.type == "cpu" and loaded.config.device == "cuda"
    assert all(p.device.type == "cpu" for p in loaded.model.parameters())
    assert len(generate(loaded, "The", SamplingSettings(length=10))) == 10


def test_listing_model_runs_does_not_import_torch(model_root):
    import json
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import json, sys\n"
        "from engine.generation.loading import model_runs, default_run\n"
        "from engine.generation.settings import parse_settings\n"
        "import engine.generation.classify\n"
        f"runs = [r.name for r in model_runs({str(model_root)!r})]\n"
        f"best = default_run({str(model_root)!r}, 'sentiment').name\n"
        "parse_settings(temperature='0.5')\n"
        "print(json.dumps([runs, best, 'torch' in sys.modules, 'numpy' in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    runs, best, torch_loaded, numpy_loaded = json.loads(done.stdout)
    assert sorted(runs) == ["charlm-tiny", "sentiment-tiny"] and best == "sentiment-tiny"
    assert not torch_loaded and not numpy_loaded
