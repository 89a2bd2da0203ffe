"""The data contract shared by every command: one ``.npz`` file.

Required arrays: ``x_train``, ``y_train``, ``x_test``, ``y_test``; optional
``x_val``, ``y_val``. A model with several inputs (an image captioner) takes one array per
input and split instead of ``x_<split>``: ``x_train__<input name>`` (``x_test__image``,
``x_test__tokens``, ...); its ``Dataset.x_*`` are then ``{input name: array}`` dicts, which
Keras ``fit`` / ``predict`` take as they are. Files are opened with ``allow_pickle=False``: an ``.npz``
never runs code. Reading is bounded: every member must be an ``.npy`` array, and
each array's header (shape x itemsize) is read and checked against the size the zip
declares and against :data:`MAX_BYTES` before anything is decompressed; only the
arrays of the contract are loaded. Classification labels are integers (or one-hot
rows); anything else is treated as regression targets. Given the model's output
shape, labels are checked against it (class labels within the model's classes,
regression targets as wide as its output).

Example:
    >>> ds = load_data("data.npz")                       # doctest: +SKIP
    >>> ds.task, ds.x_train.shape                        # doctest: +SKIP
    ('classification', (512, 50, 3))
"""

from __future__ import annotations

import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np

from ..errors import DataError
from ..runtime import rows  # noqa: F401  (re-exported: the one row count of an array or {input: array})

Task = Literal["classification", "regression"]
REQUIRED = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL = ("x_val", "y_val")
#: Extra arrays lstm-deploy reads when present (export copies them into manifests).
EXTRAS = ("label_names",)
#: The most array data lstm-deploy reads from one .npz (``load_data(max_bytes=...)`` changes it).
MAX_BYTES = 4 << 30


#: ``x_<split>__<input name>``: one array per model input (models with several inputs).
MULTI_KEY = re.compile(r"^x_(train|val|test)__(.+)$")
X = Any  # np.ndarray, or {input name: np.ndarray} for a model with several inputs


def sequence_length(x: X) -> int | None:
    """Time steps of a ``(samples, time, ...)`` array (what ``inspect`` counts MACs over); ``None`` for per-input dicts or flat rows."""
    return int(x.shape[1]) if isinstance(x, np.ndarray) and x.ndim > 1 else None


def take(x: X, index: Any) -> X:
    """``x[index]`` for an array or for each array of a dict of per-input arrays."""
    return {k: v[index] for k, v in x.items()} if isinstance(x, dict) else x[index]


@dataclass(frozen=True)
class Dataset:
    """Validated arrays plus what kind of problem they describe."""

    x_train: X
    y_train: np.ndarray
    x_test: X
    y_test: np.ndarray
    x_val: X | None = None
    y_val: np.ndarray | None = None
    task: Task = "classification"
    source: str = "<memory>"

    @property
    def has_val(self) -> bool:
        return self.x_val is not None

    def labels(self, y: np.ndarray) -> np.ndarray:
        """Class indices for classification targets (one-hot rows become argmax)."""
        if self.task != "classification":
            raise DataError(f"{self.source}: labels() only applies to classification data")
        return y.argmax(axis=-1) if _is_one_hot(y) else y.astype(np.int64)

    def train_val_split(self, val_fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(x_train, y_train, x_val, y_val)``; split train when no val set was given."""
        if self.has_val:
            return self.x_train, self.y_train, self.x_val, self.y_val  # type: ignore[return-value]
        n = rows(self.x_train)
        n_val = max(1, int(round(n * val_fraction))) if n > 1 else 0
        order = np.random.default_rng(seed).permutation(n)
        val, train = order[:n_val], order[n_val:]
        if n_val == 0:
            return self.x_train, self.y_train, self.x_train, self.y_train
        return take(self.x_train, train), self.y_train[train], take(self.x_train, val), self.y_train[val]


def _is_one_hot(y: np.ndarray) -> bool:
    if y.ndim != 2 or y.shape[1] < 2 or not np.issubdtype(y.dtype, np.floating):
        return False
    return bool(np.isin(y, (0.0, 1.0)).all() and np.allclose(y.sum(axis=1), 1.0))


def infer_task(y: np.ndarray) -> Task:
    """Integer/bool labels or one-hot rows mean classification; anything else regression."""
    if np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_ or _is_one_hot(y):
        return "classification"
    return "regression"


def load_data(path: str | Path, model_input_shape: Sequence[int | None] | None = None, task: Task | None = None, *,
              model_output_shape: Sequence[int | None] | None = None, max_bytes: int = MAX_BYTES,
              model_inputs: dict[str, Sequence[int | None]] | None = None, test_only: bool = False) -> Dataset:
    """Load and validate an ``.npz`` data file, reading no more than it declares and ``max_bytes`` allows.

    Args:
        path: the ``.npz`` file.
        model_input_shape: the model's input shape without batch (``None`` for dynamic
            dims); when given, every ``x_*`` array must match it.
        task: force ``classification`` or ``regression`` instead of inferring it.
        model_output_shape: the model's output shape without batch; when given, class labels
            must lie in ``[0, classes)`` and regression targets must be as wide as the output.
        max_bytes: refuse files whose arrays declare more than this many bytes in total.
        model_inputs: ``{input name: shape without batch}`` of a model with several inputs: the
            file must then hold ``x_<split>__<input name>`` arrays, checked per input.
        test_only: evaluation-only callers (``benchmark``): a file with just ``x_test``/``y_test``
            is accepted; its train arrays are then the test arrays (nothing trains on them).

    Raises:
        DataError: missing file or keys, non-array members, pickled objects, oversized or
            inconsistent headers, empty/NaN/inf arrays, mismatched lengths, shapes or labels.
            The message names the file and the array.

    Example:
        >>> ds = load_data("d.npz", model_input_shape=(50, 3), model_output_shape=(4,))   # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {path} does not exist; expected an .npz with {', '.join(REQUIRED)}")
    if path.is_dir():
        raise DataError(f"data file {path} is a directory; expected an .npz file")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a readable .npz file (not a zip archive); write one with numpy.savez")
    try:
        arrays = _read_npz(path, REQUIRED + OPTIONAL, max_bytes)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc.__class__.__name__}: {str(exc)[:200]})") from None
    if test_only and "y_train" not in arrays and "y_test" in arrays and not any(k.startswith("x_train") for k in arrays):
        copies = {k.replace("x_test", "x_train", 1): v for k, v in arrays.items() if k == "x_test" or k.startswith("x_test__")}
        arrays = {**arrays, **copies, "y_train": arrays["y_test"]} if copies else arrays
    return validate_arrays(arrays, source=str(path), model_input_shape=model_input_shape, task=task, model_output_shape=model_output_shape,
                           model_inputs=model_inputs)


def _sample_shape(tensor: Any) -> tuple[int | None, ...]:
    return tuple(None if d is None else int(d) for d in tensor.shape[1:])


def model_inputs(model: Any) -> dict[str, tuple[int | None, ...]]:
    """``{input name: sample shape}`` of a Keras model (either flavour), in its input order."""
    return {t.name.split(":")[0]: _sample_shape(t) for t in model.inputs}


def load_for_model(path: str | Path, model: Any, **kwargs: Any) -> Dataset:
    """:func:`load_data` checked against ``model`` (either flavour): its input(s) and its output width.

    A model with several inputs needs ``x_<split>__<input name>`` arrays; one input, ``x_<split>``.

    Example:
        >>> ds = load_for_model("d.npz", keras_model)        # doctest: +SKIP
    """
    inputs, out = model_inputs(model), _sample_shape(model.outputs[0])
    if len(inputs) > 1:
        return load_data(path, model_output_shape=out, model_inputs=inputs, **kwargs)
    return load_data(path, model_input_shape=next(iter(inputs.values())), model_output_shape=out, **kwargs)


def check_fits(model: Any, dataset: Dataset) -> None:
    """Raise :class:`DataError` when ``dataset``'s inputs do not fit ``model``'s (either flavour), naming the array.

    Several inputs: the ``x_<split>__<input name>`` arrays go through the contract's per-input
    checks (:func:`validate_arrays`); one input: ``x_train``'s sample shape.
    """
    inputs = model_inputs(model)
    if isinstance(dataset.x_train, dict):
        arrays = {f"{split}__{name}": arr for split in ("x_train", "x_test") for name, arr in getattr(dataset, split).items()}
        validate_arrays({**arrays, "y_train": dataset.y_train, "y_test": dataset.y_test}, dataset.source, task=dataset.task,
                        model_inputs=inputs)
        return
    names = list(inputs)
    if len(names) > 1:
        raise DataError(f"{dataset.source}: the model has {len(names)} inputs ({', '.join(names)}); save one array per input and "
                        f"split: {', '.join(f'x_train__{n}' for n in names)}, the same for x_test, instead of x_train / x_test")
    want, got = inputs[names[0]], dataset.x_train.shape[1:]
    if len(got) != len(want) or any(e is not None and e != g for e, g in zip(want, got)):
        raise DataError(f"{dataset.source}: x_train has sample shape {got}; the model expects {want}")


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return ""  # pragma: no cover


def _header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> tuple[int, int]:
    """Read one member's .npy header only: ``(header bytes, data bytes)``, checked against the zip entry."""
    fmt = np.lib.format
    key = info.filename[:-4]
    with zf.open(info) as fp:
        version = fmt.read_magic(fp)
        if version not in ((1, 0), (2, 0)):
            raise DataError(f"{path}: {key} has .npy format version {version}; expected 1.0 or 2.0 (numpy.savez)")
        reader = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _fortran, dtype = reader(fp)
        header_len = fp.tell()
    if dtype.hasobject:
        raise DataError(f"{path}: contains pickled Python objects ({key}); save plain numeric arrays (np.savez) instead")
    nbytes = math.prod(shape) * dtype.itemsize
    if info.file_size != header_len + nbytes:
        raise DataError(f"{path}: {key}'s header declares shape {shape[:8]} {dtype} ({_size(nbytes)}) but the archive member holds "
                        f"{_size(max(info.file_size - header_len, 0))}; the file is corrupt or was not written by numpy.savez")
    return header_len, nbytes


def _read_npz(path: Path, keys: Sequence[str], max_bytes: int) -> dict[str, np.ndarray]:
    """Check every member's header first (nothing decompressed past it), then load only ``keys``."""
    with zipfile.ZipFile(path) as zf:
        members = {}
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                raise DataError(f"{path}: member {info.filename[:80]!r} is not an .npy array; an .npz data file holds only "
                                "arrays written by numpy.savez")
            members[info.filename[:-4]] = info
        wanted = [k for k in (*keys, *EXTRAS) if k in members] + [k for k in members if MULTI_KEY.match(k)]
        sizes = {k: _header(zf, info, path)[1] for k, info in members.items()}
        total = sum(sizes[k] for k in wanted)
        if total > max_bytes:
            biggest = max(wanted, key=sizes.__getitem__)
            raise DataError(f"{path}: its arrays declare {_size(total)} ({biggest}: {_size(sizes[biggest])}), over the limit of "
                            f"{_size(max_bytes)} lstm-deploy reads from one file; use a smaller sample, or load_data(max_bytes=...) in Python")
        arrays = {}
        for key in [k for k in keys if k in members] + [k for k in members if MULTI_KEY.match(k)]:
            with zf.open(members[key]) as fp:
                arrays[key] = np.lib.format.read_array(fp, allow_pickle=False)
        return arrays


def validate_arrays(
    arrays: dict[str, np.ndarray],
    source: str = "<memory>",
    model_input_shape: Sequence[int | None] | None = None,
    task: Task | None = None,
    model_output_shape: Sequence[int | None] | None = None,
    model_inputs: dict[str, Sequence[int | None]] | None = None,
) -> Dataset:
    """Validate a dict of arrays against the contract; see :func:`load_data`."""
    grouped = _group_inputs(arrays, source, model_inputs)
    if grouped:  # per-input arrays are checked; the generic checks below see the first input's (row counts)
        arrays = {**{k: v for k, v in arrays.items() if not MULTI_KEY.match(k)}, **{k: next(iter(v.values())) for k, v in grouped.items()}}
        model_input_shape = None
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise DataError(f"{source}: missing array(s) {', '.join(missing)}; found {', '.join(sorted(arrays)) or 'none'}")
    if ("x_val" in arrays) != ("y_val" in arrays):
        raise DataError(f"{source}: x_val and y_val must be given together")
    keys = [k for k in REQUIRED + OPTIONAL if k in arrays]
    for key in keys:
        arr = arrays[key]
        if arr.dtype == object:
            raise DataError(f"{source}: {key} holds Python objects; expected a numeric array")
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise DataError(f"{source}: {key} has dtype {arr.dtype}; expected a numeric array")
        if arr.size == 0 or arr.ndim == 0:
            raise DataError(f"{source}: {key} is empty (shape {arr.shape}); expected at least one sample")
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            bad = int((~np.isfinite(arr)).sum())
            raise DataError(f"{source}: {key} contains {bad} NaN/inf value(s); clean or impute them first")
    for split in ("train", "test", "val"):
        if f"x_{split}" in arrays and len(arrays[f"x_{split}"]) != len(arrays[f"y_{split}"]):
            raise DataError(
                f"{source}: x_{split} has {len(arrays[f'x_{split}'])} samples but y_{split} has {len(arrays[f'y_{split}'])}"
            )
    if model_input_shape is not None:
        expected = tuple(model_input_shape)
        for key in (k for k in keys if k.startswith("x_")):
            got = arrays[key].shape[1:]
            if len(got) != len(expected) or any(e is not None and e != g for e, g in zip(expected, got)):
                shown = "(" + ", ".join("None" if e is None else str(e) for e in expected) + ")"
                raise DataError(f"{source}: {key} has sample shape {got}; the model expects {shown}")
    x = {k: np.asarray(arrays[k]) for k in keys}
    for key in [k for k in keys if k.startswith("x_")]:
        if np.issubdtype(x[key].dtype, np.floating) and x[key].dtype != np.float32:
            x[key] = x[key].astype(np.float32)
    inferred = task or infer_task(x["y_train"])
    if inferred == "regression" and not np.issubdtype(x["y_train"].dtype, np.floating):
        raise DataError(f"{source}: regression targets must be floats, got {x['y_train'].dtype}")
    for key in [k for k in keys if k.startswith("y_")]:
        if inferred == "regression":
            x[key] = x[key].astype(np.float32)
        if model_output_shape is not None and len(model_output_shape) and model_output_shape[-1] is not None:
            _check_targets(x[key], key, inferred, tuple(model_output_shape), source)
    if grouped:
        x.update(grouped)
    return Dataset(
        x_train=x["x_train"], y_train=x["y_train"], x_test=x["x_test"], y_test=x["y_test"],
        x_val=x.get("x_val"), y_val=x.get("y_val"), task=inferred, source=source,
    )


def _check_targets(y: np.ndarray, key: str, task: Task, output_shape: tuple[Any, ...], source: str) -> None:
    """Labels against the model's output: classes in range, one-hot width, regression target width."""
    width = int(output_shape[-1])
    if task == "classification" and _is_one_hot(y):
        if y.shape[-1] != width:
            raise DataError(f"{source}: {key} holds one-hot rows of width {y.shape[-1]}, but the model outputs {width} classes")
        return
    if task == "classification":
        classes = 2 if width == 1 else width  # one sigmoid unit: labels 0 and 1
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= classes:
            hint = ("; integer values are read as class labels -- save regression targets as floats" if width == 1
                    else f"; relabel them to 0..{classes - 1} or give the model {high + 1} outputs")
            raise DataError(f"{source}: {key} holds class labels {low}..{high}, but the model has {classes} classes "
                            f"(0..{classes - 1}, output width {width}){hint}")
        return
    got = tuple(y.shape[1:])
    expected = tuple(output_shape)
    fits = [expected, expected[:-1]] if expected[-1] == 1 else [expected]  # (n,) targets for a width-1 output
    if not any(len(got) == len(e) and all(d is None or d == g for d, g in zip(e, got)) for e in fits):
        targets = "one value per sample" if not got else f"shape {got} per sample"
        raise DataError(f"{source}: {key} holds float values, so they were read as regression targets ({targets}), but the model "
                        f"outputs shape {expected} per sample; for a classifier save integer class labels (y.astype(int)) or one-hot rows")


# ---------------------------------------------------------------- several inputs: x_<split>__<input name>


def _group_inputs(arrays: dict[str, np.ndarray], source: str, model_inputs: dict[str, Sequence[int | None]] | None) -> dict[str, dict[str, np.ndarray]]:
    """``{"x_train": {input: array}, ...}`` from ``x_<split>__<input>`` arrays, each checked and named in errors; ``{}`` if none."""
    found: dict[str, dict[str, np.ndarray]] = {}
    for key, arr in arrays.items():
        match = MULTI_KEY.match(key)
        if match:
            found.setdefault(f"x_{match.group(1)}", {})[match.group(2)] = arr
    names = list(model_inputs) if model_inputs else None
    if names is not None and len(names) > 1 and not found:
        raise DataError(f"{source}: the model has {len(names)} inputs ({', '.join(names)}); save one array per input and split: "
                        f"{', '.join(f'x_train__{n}' for n in names)}, the same for x_test (optionally x_val), instead of x_train / x_test")
    if not found:
        return {}
    if names is not None and len(names) == 1:
        raise DataError(f"{source}: holds per-input arrays ({', '.join(sorted(f'{s}__{n}' for s in found for n in found[s]))}) but the "
                        f"model has one input ('{names[0]}'); save x_train / x_test")
    both = [k for k in found if k in arrays]
    if both:
        raise DataError(f"{source}: holds both {both[0]} and {both[0]}__<input> arrays; keep one form")
    expected = names or list(found.get("x_train") or next(iter(found.values())))
    for split in ("x_train", "x_test"):
        if split not in found:
            raise DataError(f"{source}: missing {', '.join(f'{split}__{n}' for n in expected)}; found {', '.join(sorted(arrays))}")
    for split, per in found.items():
        for name in [n for n in expected if n not in per] + [n for n in per if n not in expected]:
            what = "is missing" if name in expected else "names no input of the model"
            raise DataError(f"{source}: {split}__{name} {what}; the model's inputs are {', '.join(expected)}")
        found[split] = {n: _checked_input(per[n], f"{split}__{n}", source, (model_inputs or {}).get(n)) for n in expected}
        counts = {f"{split}__{n}": len(a) for n, a in found[split].items()}
        if len(set(counts.values())) > 1:
            raise DataError(f"{source}: the {split} inputs have different numbers of samples: {', '.join(f'{k} {v}' for k, v in counts.items())}")
    return found


def _checked_input(arr: np.ndarray, key: str, source: str, shape: Sequence[int | None] | None) -> np.ndarray:
    """One per-input array: numeric, non-empty, finite, of the input's sample shape; floats as float32."""
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DataError(f"{source}: {key} has dtype {arr.dtype}; expected a numeric array")
    if arr.size == 0 or arr.ndim == 0:
        raise DataError(f"{source}: {key} is empty (shape {arr.shape}); expected at least one sample")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise DataError(f"{source}: {key} contains {int((~np.isfinite(arr)).sum())} NaN/inf value(s); clean or impute them first")
    if shape is not None:
        expected, got = tuple(shape), arr.shape[1:]
        if len(got) != len(expected) or any(e is not None and e != g for e, g in zip(expected, got)):
            shown = "(" + ", ".join("None" if e is None else str(e) for e in expected) + ")"
            raise DataError(f"{source}: {key} has sample shape {got}; the model's input '{key.split('__', 1)[1]}' expects {shown}")
    return arr.astype(np.float32) if np.issubdtype(arr.dtype, np.floating) and arr.dtype != np.float32 else arr
