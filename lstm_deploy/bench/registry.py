"""Runtime registry: each runtime family registers its classes here by name.

A runtime runs one artifact format. ``available()`` is a cheap check done in the
parent process (no model is loaded); ``load`` may still raise
:class:`RuntimeUnavailable` when the hardware or driver turns out to be missing.
Adding a runtime is one new module in ``bench/runtimes/`` listed in :data:`RUNTIME_MODULES`.
Runtimes of exported artifacts extend :class:`ArtifactRuntime`, which runs them through
:class:`lstm_deploy.runtime.Model` -- the code apps run -- and adds only what benchmarking
needs (thread pinning, providers, batch resizing).

Example:
    >>> cls = get_runtime("tflite")
    >>> cls.formats
    ('tflite',)
    >>> expand_runtimes("keras,onnxruntime")
    ['keras-eager', 'keras-function', 'onnxruntime']
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from ..load.dataset import X, rows

RUNTIME_MODULES = ("keras", "tf_gpu", "tflite", "litert_gpu", "onnxruntime", "openvino")

#: Group names accepted by ``--runtimes`` besides the registered names.
ALIASES: dict[str, tuple[str, ...]] = {
    "keras": ("keras-eager", "keras-function"),
    "litert": ("tflite",),
    "onnx": ("onnxruntime",),
    "gpu": ("tf-gpu", "litert-gpu", "onnxruntime-cuda", "onnxruntime-tensorrt"),
}

_REGISTRY: dict[str, type["Runtime"]] = {}
_LOADED = False


class RuntimeUnavailable(Exception):
    """Raised by ``Runtime.load`` when this machine cannot run the runtime after all."""


class Runtime:
    """Base class: load one artifact, run batches of independent sequences.

    Subclasses set ``name``, ``formats`` and ``description`` and implement
    ``available``, ``load`` and ``_run_batch``. ``run`` always starts every sequence
    from a fresh state (``reset()`` before each call), which is what a stateless
    model means; for fixed-batch artifacts it loops over batch-sized chunks. A batch is an
    array, or ``{input name: array}`` for a model with several inputs (rows taken alike).
    """

    name: ClassVar[str] = ""
    formats: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    #: True when the thread count can only be set once per process (TensorFlow).
    process_per_threads: ClassVar[bool] = False

    def __init__(self) -> None:
        self.threads = 1
        self.fixed_batch: int | None = None

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """``(True, "")`` when this runtime can probably run here, else ``(False, reason)``."""
        raise NotImplementedError

    @classmethod
    def import_runtime(cls, threads: int) -> None:
        """Import the runtime's libraries (timed apart from ``load``); pin process-wide threads here."""

    def load(self, path: str, threads: int) -> None:
        """Load the artifact at ``path`` pinned to ``threads`` CPU threads."""
        raise NotImplementedError

    def reset(self) -> None:
        """Clear any state kept between calls (LSTM variable tensors); a no-op by default."""

    def batching(self, batch_size: int) -> str:
        """How a batch of this size is executed: ``native``, ``resized`` or ``loop``."""
        if self.fixed_batch is None or self.fixed_batch == batch_size:
            return "native"
        return "loop"

    def run(self, x: X) -> np.ndarray:
        """Outputs for a batch of independent sequences ``x`` (state reset before each call)."""
        if self.batching(rows(x)) != "loop":
            self.reset()
            return self._run_batch(x)
        from ..runtime import fixed_batches

        outs = []
        for chunk, n in fixed_batches(x, self.fixed_batch):
            self.reset()
            outs.append(self._run_batch(chunk)[:n])
        return np.concatenate(outs)

    def _run_batch(self, x: X) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        """Release the loaded model."""

    def state_handling(self) -> str:
        """How LSTM state is handled between independent sequences (a report column)."""
        return "stateless: every call starts from zero state"

    def step_caller(self, x: X) -> Any | None:
        """A no-argument callable advancing streaming artifacts one time step of ``x``, or ``None`` (not a streaming artifact)."""
        return None


class ArtifactRuntime(Runtime):
    """A ``.tflite`` / ``.onnx`` runtime that runs artifacts through :class:`lstm_deploy.runtime.Model`.

    The model does what an app's call does -- quantize inputs with the manifest's scale,
    derive ``lengths`` for masked artifacts, reset LSTM state, chunk and pad to a fixed
    batch, dequantize -- so the benchmark times exactly that. Subclasses add backend
    options (providers) and may serve other batch sizes in one call (:meth:`resized`).
    """

    def backend_options(self) -> dict[str, Any]:
        """Extra keyword arguments for the runtime backend (e.g. ONNX Runtime providers)."""
        return {}

    def load(self, path: str, threads: int) -> None:
        from ..runtime import Model

        self.path, self.threads = path, threads
        self.model = Model.load(path, num_threads=threads, require_manifest=False, preprocess=False, **self.backend_options())  # x_test is prepared
        self.fixed_batch = self.model.batch_size
        self._models: dict[int, Any] = {}

    def resized(self, batch_size: int) -> Any | None:
        """A model serving ``batch_size`` in one call, or ``None`` (then chunks of the fixed batch are looped)."""
        return None

    def batching(self, batch_size: int) -> str:
        if self.fixed_batch is None or self.fixed_batch == batch_size:
            return "native"
        if self.model.streaming:
            return "loop"
        if batch_size not in self._models:
            self._models[batch_size] = self.resized(batch_size)
        return "resized" if self._models[batch_size] is not None else "loop"

    def run(self, x: X) -> np.ndarray:
        if self.model.streaming:  # whole sequences stepped through, state zeroed per sequence
            seq = self.model.stream_predict(x)
            return seq if self.model.streaming.get("model_output") == "every_step" else seq[:, -1]
        model = self._models[rows(x)] if self.batching(rows(x)) == "resized" else self.model
        return model.predict(x)  # resets state before every invocation, pads the last chunk; a dict for several inputs

    def state_handling(self) -> str:
        spec = self.model.streaming
        if spec:
            return f"explicit h/c state ({len(spec.get('states', []))} tensors in and out), zeroed at each new sequence"
        if self.model.format == "tflite":
            return "reset_all_variables() before every call (the fused LSTM keeps h/c across invoke())"
        return super().state_handling()

    def step_caller(self, x: np.ndarray) -> Any | None:
        """Steps through ``x`` (one time step per call, a fresh sequence after the last step); batch must fit the artifact."""
        if not self.model.streaming or (self.model.batch_size is not None and self.model.batch_size != len(x)):
            return None
        stream, cursor = self.model.stream(), [0]

        def step() -> None:
            t = cursor[0]
            if t == 0:
                stream.reset()
            stream.step(x[:, t])
            cursor[0] = (t + 1) % x.shape[1]

        return step

    def close(self) -> None:
        self.model = None
        self._models = {}


def register(cls: type[Runtime]) -> type[Runtime]:
    """Class decorator adding a runtime under ``cls.name``."""
    if not cls.name or not cls.formats:
        raise TypeError(f"{cls.__name__}: a runtime needs a name and formats")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise TypeError(f"runtime {cls.name!r} is registered twice ({_REGISTRY[cls.name].__name__}, {cls.__name__})")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtin() -> None:
    global _LOADED
    if not _LOADED:
        for module in RUNTIME_MODULES:
            importlib.import_module(f"{__package__}.runtimes.{module}")
        _LOADED = True


def runtime_names() -> list[str]:
    """Every registered runtime name, in registration order."""
    _load_builtin()
    return list(_REGISTRY)


def get_runtime(name: str) -> type[Runtime]:
    """The runtime class registered as ``name``; unknown names list the known ones."""
    _load_builtin()
    if name not in _REGISTRY:
        raise InputError(f"--runtimes: unknown runtime {name!r}; expected one of {', '.join(_REGISTRY)} or a group ({', '.join(ALIASES)}, all)")
    return _REGISTRY[name]


def expand_runtimes(spec: str | tuple[str, ...] | list[str]) -> list[str]:
    """Turn ``"all"``, group aliases and comma lists into registered names (order kept, no repeats)."""
    _load_builtin()
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if not items:
        raise InputError(f"--runtimes: expected a comma-separated list of runtimes, got {spec!r}")
    names: list[str] = []
    for item in items:
        group = list(_REGISTRY) if item == "all" else list(ALIASES.get(item, (item,)))
        for name in group:
            get_runtime(name)
            if name not in names:
                names.append(name)
    return names
