"""``Model``: a loaded artifact plus its validated manifest -- checks inputs, batches, runs, answers.

Example:
    >>> m = Model.load("model.fp32.onnx")        # doctest: +SKIP
    >>> m.predict(np.zeros((4, 10, 3), np.float32)).shape   # doctest: +SKIP
    (4, 2)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .backends import BACKENDS, SUFFIXES
from .batching import fixed_batches, lengths_from_padding
from .errors import ManifestError, RuntimeError_
from .inputs import predict_inputs
from .manifest import check_against_artifact, manifest_file, plain_manifest, read_manifest, validate_manifest, verify_artifact
from .preprocessing import finish_outputs, prepare_inputs
from .streaming import Stream, step_batches
from .tensors import TensorInfo, dequantize, quantize


class Model:
    """A loaded artifact plus its manifest (validated: :func:`~.manifest.validate_manifest`).

    ``source`` is a path or the artifact's bytes (``name`` then names it in messages).
    """

    def __init__(self, source: str | Path | bytes, manifest: dict[str, Any] | None, *, num_threads: int | None = None,
                 name: str | None = None, preprocess: bool = True, **backend_options: Any) -> None:
        in_memory = isinstance(source, (bytes, bytearray))
        self.path = Path(name or "<memory>") if in_memory else Path(source)  # type: ignore[arg-type]
        if manifest is not None:
            validate_manifest(manifest, f"of {self.path}")
        fmt = (manifest or {}).get("format") or SUFFIXES.get(self.path.suffix)
        if fmt not in BACKENDS:
            raise RuntimeError_(f"{self.path}: format {fmt!r} is unknown; expected one of {', '.join(BACKENDS)}")
        if not in_memory and not self.path.exists():
            raise RuntimeError_(f"artifact {self.path} does not exist")
        self.format: str = fmt
        self._backend = BACKENDS[fmt](source if in_memory else self.path, num_threads, **backend_options)
        # a manifest written by another tool may lack names: the artifact's first input and output then
        self.manifest = {**plain_manifest(fmt, self._backend), **{k: v for k, v in (manifest or {}).items() if v is not None}}
        self.masking: dict[str, Any] | None = self.manifest.get("masking")
        self.streaming: dict[str, Any] | None = self.manifest.get("streaming")
        self.input_name: str = self.manifest["input_name"]
        self.output_name: str = self.manifest["output_name"]
        check_against_artifact(self.manifest, self._backend.inputs, self._backend.outputs, self.path)
        self._check_manifest_dtypes()
        #: the manifest's preprocessing, applied by :meth:`predict` to raw inputs (``preprocess=False``: inputs are prepared)
        self.preprocessing: dict[str, Any] | None = (self.manifest.get("preprocessing") or None) if preprocess else None

    def _check_manifest_dtypes(self) -> None:
        """Input dtypes come from the manifest; a manifest that disagrees with its artifact is stale."""
        for entry in self.manifest.get("inputs") or []:
            info = self._backend.inputs.get(entry.get("name"))
            if info is not None and entry.get("dtype") and entry["dtype"] != info.dtype:
                raise ManifestError(f"manifest of {self.path} says input {info.name!r} is {entry['dtype']} but the artifact takes "
                                    f"{info.dtype}; the manifest belongs to another artifact -- re-export the model")

    @classmethod
    def load(cls, path: str | Path, *, num_threads: int | None = None, require_manifest: bool = True, preprocess: bool = True,
             verify: bool = True, **backend_options: Any) -> Model:
        """Load ``path`` (``.tflite`` or ``.onnx``) and the manifest ``path + '.json'``.

        The manifest is validated (:class:`ManifestError`) and, with ``verify`` (default), the file's
        SHA-256 must be the manifest's ``artifact_sha256`` (:class:`ArtifactMismatchError`);
        ``verify=False`` runs artifacts edited on purpose. With ``require_manifest=False`` an artifact
        without a manifest runs with :func:`plain_manifest`. ``preprocess`` (default): :meth:`predict`
        takes raw inputs and applies the manifest's preprocessing (z-score, window scaling,
        tokenizer); ``False``: inputs are already prepared.
        """
        if not Path(path).is_file():
            raise RuntimeError_(f"artifact {path} does not exist (expected a .tflite or .onnx file)")
        manifest = read_manifest(path) if require_manifest or manifest_file(path).exists() else None
        if verify and manifest and manifest.get("artifact_sha256"):
            data = Path(path).read_bytes()  # hashed and run: the bytes checked are the bytes loaded
            verify_artifact(data, manifest, Path(path))
            return cls(data, manifest, name=str(path), num_threads=num_threads, preprocess=preprocess, **backend_options)
        return cls(path, manifest, num_threads=num_threads, preprocess=preprocess, **backend_options)

    @property
    def backend(self) -> Any:
        """The :class:`TFLiteBackend` or :class:`OnnxBackend` running the artifact."""
        return self._backend

    @property
    def inputs(self) -> dict[str, TensorInfo]:
        return dict(self._backend.inputs)

    @property
    def outputs(self) -> dict[str, TensorInfo]:
        return dict(self._backend.outputs)

    @property
    def batch_size(self) -> int | None:
        """Fixed batch of the artifact, or ``None`` when any batch works (ONNX)."""
        return self._backend.inputs[self.input_name].shape[0]

    @property
    def concurrency(self) -> int | None:
        """Calls that run at the same time: TFLite interpreters in the pool, ``None`` for ONNX (no limit)."""
        return self._backend.concurrency

    def check_input(self, x: Any) -> np.ndarray:
        """``x`` as an array the artifact takes, or :class:`RuntimeError_` saying what is wrong with it.

        Checks: numbers (not ragged, text or booleans), shape ``(n, *sample)`` (a time step for
        streaming artifacts), finite values; whole numbers within ``input_range`` for token inputs.
        (Preprocessing declared in a manifest belongs here, before the checks.)
        """
        info = self._backend.inputs[self.input_name]
        expected = ", ".join(str(e) for e in info.shape[1:])
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError):
            arr = np.asarray(None)
        if arr.dtype.kind not in "iuf":
            what = "ragged (rows of different lengths)" if arr.dtype.kind == "O" else f"of dtype {arr.dtype}"
            raise RuntimeError_(f"input x is {what}; expected numbers in an array of shape (n, {expected})")
        if arr.ndim != len(info.shape) or any(e is not None and e != g for e, g in zip(info.shape[1:], arr.shape[1:])):
            raise RuntimeError_(f"input x has shape {arr.shape}; {self.path.name} expects (n, {expected})")
        if np.dtype(info.dtype).kind == "f" or info.quantized:  # float inputs (quantized ones too: quantized from float32)
            with np.errstate(over="ignore"):
                wanted = arr.astype(np.float32 if info.quantized else info.dtype, copy=False)
            if not np.isfinite(wanted).all():
                at = tuple(int(i) for i in np.argwhere(~np.isfinite(wanted))[0])
                raise RuntimeError_(f"input x{list(at)} is {arr[at]:g}; expected finite {wanted.dtype} numbers")
            return wanted
        if arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
            raise RuntimeError_(f"input x holds fractions or non-finite values; {self.path.name} takes whole numbers ({info.dtype} token ids)")
        low, high = self.manifest.get("input_range") or (np.iinfo(info.dtype).min, np.iinfo(info.dtype).max)
        if arr.size and (arr.min() < low or arr.max() > high):
            bad = arr.min() if arr.min() < low else arr.max()
            raise RuntimeError_(f"input x holds {bad:g}; {self.path.name} takes values from {low} to {high} (its token ids)")
        return arr.astype(info.dtype, copy=False)

    def predict(self, x: np.ndarray, lengths: np.ndarray | None = None, *, chunk: int = 256) -> np.ndarray:
        """Run independent sequences ``x`` (``(n, time, ...)``) and return the model output.

        State is reset before every invocation. Safe to call from many threads at once; the
        answer is the same as alone. ``lengths`` only for artifacts exported with
        ``--lengths-input`` (derived from the post-padding when not given).
        """
        if self.streaming:
            raise RuntimeError_(f"{self.path} is a streaming (single-step) artifact; use .stream().step(x_t)")
        if isinstance(x, dict) or self.manifest.get("input_names"):
            return predict_inputs(self, x, chunk=chunk)  # several named inputs (captioners)
        if self.preprocessing:
            raw, x = x, prepare_inputs(x, self.preprocessing)
            return finish_outputs(self.predict_prepared(x, lengths, chunk=chunk), raw, self.preprocessing)
        return self.predict_prepared(x, lengths, chunk=chunk)

    def predict_prepared(self, x: np.ndarray, lengths: np.ndarray | None = None, *, chunk: int = 256) -> np.ndarray:
        """:meth:`predict` on inputs already prepared (the manifest's preprocessing applied, or none recorded)."""
        x = self.check_input(x)
        info = self._backend.inputs[self.input_name]
        lengths_input = (self.masking or {}).get("lengths_input")
        if lengths is not None and not lengths_input:
            raise RuntimeError_(f"{self.path.name} takes no lengths input (it finds the padding itself); call predict(x)")
        if lengths_input and lengths is None:
            lengths = lengths_from_padding(x, self.masking)  # type: ignore[arg-type]
        outs = []
        offset = 0
        for xb, n in fixed_batches(x, self.batch_size, chunk=chunk):
            feeds = {self.input_name: quantize(xb, info)}
            if lengths is not None:  # padded rows of the last chunk get length 0
                feeds[lengths_input] = np.pad(np.asarray(lengths[offset:offset + n], np.int32), (0, len(xb) - n))
            offset += n
            y = self._backend.run(feeds, reset=True)[self.output_name]
            outs.append(dequantize(y, self._backend.outputs[self.output_name])[:n])
        return self._join(outs)

    def _join(self, outs: list[np.ndarray]) -> np.ndarray:
        """Per-chunk outputs as one array; no rows gives an empty array of the output's shape and dtype."""
        if not outs:
            out = self._backend.outputs[self.output_name]
            return np.zeros((0, *[d or 0 for d in out.shape[1:]]), np.float32 if out.quantized else out.dtype)
        return np.concatenate(outs)

    def stream(self) -> Stream:
        """A stateful stepper for streaming artifacts (exported with ``--streaming``); one per sequence source."""
        if not self.streaming:
            raise RuntimeError_(f"{self.path} is a full-sequence artifact; re-export with --streaming to step through sequences")
        return Stream(self)

    def stream_predict(self, x: np.ndarray) -> np.ndarray:
        """Step every whole sequence of ``x`` through a streaming artifact: outputs ``(n, time, ...)``, one per step."""
        return step_batches(self, x)
