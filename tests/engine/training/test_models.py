"""The two models: packing ignores padding, whole-sequence and one-step CharLM agree, sampling is seeded."""

from __future__ import annotations

import pytest
import torch

from engine.models import CharLM, SentimentClassifier, build_model
from engine.training.config import parse_train_config


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize(
    ("pooling", "bidirectional"), [("last", False), ("last", True), ("max", True), ("mean", False)]
)
def test_a_padded_batch_scores_each_review_as_if_alone(cell, pooling, bidirectional):
    torch.manual_seed(0)
    model = SentimentClassifier(
        30, 6, 5, cell=cell, layers=2, bidirectional=bidirectional, pooling=pooling, fc_size=4
    ).eval()
    reviews = [torch.tensor([3, 4, 5, 6, 7]), torch.tensor([8, 9]), torch.tensor([10, 11, 12])]
    ids = torch.zeros(3, 5, dtype=torch.int64)
    for row, review in enumerate(reviews):
        ids[row, : len(review)] = review
    lengths = torch.tensor([len(r) for r in reviews])
    batch = model(ids, lengths)
    alone = torch.cat([model(review[None, :], torch.tensor([len(review)])) for review in reviews])
    assert batch.shape == (3,)
    torch.testing.assert_close(batch, alone)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_classifier_equals_a_packed_torch_rnn(cell):
    """The padded computation gives pack_padded_sequence's final states, both directions, two layers."""
    torch.manual_seed(0)
    model = SentimentClassifier(30, 6, 5, cell=cell, layers=2, bidirectional=True, pooling="last", fc_size=4)
    packed_rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
        6, 5, num_layers=2, bidirectional=True, batch_first=True
    )
    with torch.no_grad():
        for layer in range(2):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(packed_rnn, f"{name}_l{layer}").copy_(getattr(model.forward_layers[layer], f"{name}_l0"))
                getattr(packed_rnn, f"{name}_l{layer}_reverse").copy_(
                    getattr(model.backward_layers[layer], f"{name}_l0")
                )
    ids = torch.tensor([[3, 4, 5, 6, 7, 8], [9, 10, 0, 0, 0, 0], [11, 12, 13, 14, 0, 0]])
    lengths = torch.tensor([6, 2, 4])
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        model.embedding(ids), lengths, batch_first=True, enforce_sorted=False
    )
    _, state = packed_rnn(packed)
    h_n = state[0] if cell == "lstm" else state
    expected = model.fc2(model.relu(model.fc1(torch.cat([h_n[-2], h_n[-1]], dim=1)))).squeeze(1)
    torch.testing.assert_close(model(ids, lengths), expected)


def test_the_book_classifier_has_the_chapters_shapes():
    model = build_model(parse_train_config("sentiment", "book"), vocab_size=69_025)
    assert model.embedding.weight.shape == (69_025, 20) and model.embedding.padding_idx == 0
    (lstm,) = model.forward_layers
    assert isinstance(lstm, torch.nn.LSTM) and lstm.hidden_size == 64 and not model.backward_layers
    assert model.fc1.in_features == 64 and model.fc2.out_features == 1
    bidirectional = build_model(parse_train_config("sentiment", "book-bidirectional"), vocab_size=100)
    assert bidirectional.fc1.in_features == 128


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_stepping_one_character_at_a_time_matches_the_whole_sequence(cell):
    torch.manual_seed(0)
    model = CharLM(12, 8, 16, cell=cell, layers=2).eval()
    ids = torch.randint(0, 12, (3, 7))
    whole, state = model(ids)
    step_state = None
    for t in range(7):
        logits, step_state = model.step(ids[:, t], step_state)
        torch.testing.assert_close(logits, whole[:, t])
    torch.testing.assert_close(step_state, state)


def test_sampling_is_seeded_and_stays_in_the_vocabulary():
    torch.manual_seed(0)
    model = CharLM(12, 8, 16)
    prompt = torch.tensor([1, 2, 3])
    first = model.sample(prompt, 50, generator=torch.Generator().manual_seed(7))
    again = model.sample(prompt, 50, generator=torch.Generator().manual_seed(7))
    other = model.sample(prompt, 50, generator=torch.Generator().manual_seed(8))
    assert first == again != other
    assert len(first) == 50 and all(0 <= i < 12 for i in first)
    assert model.training  # sample() restores the mode it found
    cold = model.sample(prompt, 200, temperature=0.01, generator=torch.Generator().manual_seed(1))
    assert len(set(cold[100:])) <= 3  # near-greedy decoding settles into a short loop
