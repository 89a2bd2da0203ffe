"""A tiny schema language (numpy-free, pydantic-free) and the one schema of the manifest.

Every value the runtime reads from a manifest is typed and ranged here; informational fields
(parity numbers, ops, the source model) may hold any JSON value, bounded by the reader's size
and depth limits (:mod:`.manifest`). A violation raises :class:`ManifestError` naming the field,
what was found and what was expected.

Example:
    >>> Obj({"units": Int(1, 8)}, required=("units",)).check({"units": 0}, "state")
    Traceback (most recent call last):
    ...
    lstm_deploy_runtime.errors.ManifestError: state.units is 0; expected a whole number from 1 to 8
"""

from __future__ import annotations

import math
import re
from typing import Any

from .errors import ManifestError

#: names of inputs, outputs and states: never a path, never empty
IDENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}")


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__ + (" " + repr(value)[:40] if len(repr(value)) < 400 else "")
    return text if len(text) <= 60 else text[:57] + "..."


class Spec:
    """One rule; :meth:`check` raises :class:`ManifestError` for a value that breaks it."""

    what = "a value"

    def check(self, value: Any, where: str) -> None:
        if not self.ok(value, where):
            raise ManifestError(f"{where} is {_shown(value)}; expected {self.what}")

    def ok(self, value: Any, where: str) -> bool:
        return True


class AnyJSON(Spec):
    """Any JSON value (the reader bounds its size and depth)."""


class Str(Spec):
    def __init__(self, max_len: int = 10_000, *, choices: tuple[str, ...] | None = None, pattern: re.Pattern[str] | None = None,
                 what: str | None = None) -> None:
        self.max_len, self.choices, self.pattern = max_len, choices, pattern
        self.what = what or (f"one of {', '.join(repr(c) for c in choices)}" if choices else f"a string of at most {max_len} characters")

    def ok(self, value: Any, where: str) -> bool:
        return (isinstance(value, str) and len(value) <= self.max_len and (self.choices is None or value in self.choices)
                and (self.pattern is None or self.pattern.fullmatch(value) is not None))


class Int(Spec):
    def __init__(self, low: int = -(2**63), high: int = 2**63 - 1) -> None:
        self.low, self.high = low, high
        self.what = f"a whole number from {low} to {high}"

    def ok(self, value: Any, where: str) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high


class Num(Spec):
    """A finite number (JSON's NaN and Infinity are refused); ``nonzero`` / ``positive`` as the field needs."""

    def __init__(self, *, nonzero: bool = False, positive: bool = False) -> None:
        self.nonzero, self.positive = nonzero, positive
        self.what = "a finite number" + (" > 0" if positive else " other than 0" if nonzero else "")

    def ok(self, value: Any, where: str) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        return not (self.positive and value <= 0) and not (self.nonzero and value == 0)


class Bool(Spec):
    what = "true or false"

    def ok(self, value: Any, where: str) -> bool:
        return isinstance(value, bool)


class Opt(Spec):
    """``None`` or ``inner``."""

    def __init__(self, inner: Spec) -> None:
        self.inner = inner

    def check(self, value: Any, where: str) -> None:
        if value is not None:
            self.inner.check(value, where)


class OneOf(Spec):
    def __init__(self, *options: Spec) -> None:
        self.options = options
        self.what = " or ".join(o.what for o in options)

    def ok(self, value: Any, where: str) -> bool:
        return any(o.ok(value, where) for o in self.options)


class List(Spec):
    def __init__(self, item: Spec, min_len: int = 0, max_len: int = 100_000, *, unique: bool = False) -> None:
        self.item, self.min_len, self.max_len, self.unique = item, min_len, max_len, unique
        self.what = f"a list of {min_len} to {max_len} items" + (", no two alike" if unique else "")

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, list) or not self.min_len <= len(value) <= self.max_len:
            raise ManifestError(f"{where} is {_shown(value)}; expected {self.what}")
        for i, v in enumerate(value):
            self.item.check(v, f"{where}[{i}]")
        if self.unique and len({repr(v) for v in value}) != len(value):
            raise ManifestError(f"{where} names an item twice; expected {self.what}")


class Range(Spec):
    what = "[low, high]: two whole numbers, low <= high"

    def ok(self, value: Any, where: str) -> bool:
        whole = Int()
        return isinstance(value, list) and len(value) == 2 and all(whole.ok(v, where) for v in value) and value[0] <= value[1]


class Obj(Spec):
    """A JSON object: ``fields`` typed, ``required`` present, other keys any JSON value (``closed``: refused)."""

    def __init__(self, fields: dict[str, Spec], *, required: tuple[str, ...] = (), closed: bool = False) -> None:
        self.fields, self.required, self.closed = fields, required, closed
        self.what = "an object" + (f" with {', '.join(required)}" if required else "")

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise ManifestError(f"{where} is {_shown(value)}; expected {self.what}")
        for key in self.required:
            if key not in value:
                raise ManifestError(f"{where} has no {key!r}; expected {self.what}")
        for key, v in value.items():
            spec = self.fields.get(key)
            if spec is None and self.closed:
                raise ManifestError(f"{where} has an unknown field {str(key)[:40]!r}; expected only {', '.join(self.fields)}")
            (spec or AnyJSON()).check(v, f"{where}.{key}")


class MapOf(Spec):
    def __init__(self, key: Spec, value: Spec, max_len: int = 256) -> None:
        self.key, self.value, self.max_len = key, value, max_len

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, dict) or len(value) > self.max_len:
            raise ManifestError(f"{where} is {_shown(value)}; expected an object of at most {self.max_len} entries")
        for k, v in value.items():
            self.key.check(k, f"{where} key")
            self.value.check(v, f"{where}.{k}")


NAME = Str(128, pattern=IDENT, what="a name of letters, digits, '_', '.', ':' or '-' (not a path; at most 128 characters)")
TEXT = Str(10_000)
COUNT = Int(1, 2**31 - 1)
SHA256 = Str(64, pattern=re.compile(r"[0-9a-f]{64}"), what="64 lowercase hexadecimal digits (a SHA-256)")
DTYPE = Str(32, pattern=re.compile(r"[a-z0-9()]+"), what="a dtype name such as 'float32'")

TENSOR = Obj({"name": NAME, "shape": List(Opt(Int(0, 2**31 - 1)), 0, 16), "dtype": DTYPE, "scale": Opt(Num(positive=True)),
              "zero_point": Opt(Int(-(2**31), 2**31 - 1))}, required=("name",))
MASKING = Obj({"kind": Str(choices=("masking", "mask_zero")), "mask_value": Num(), "lengths_input": Opt(NAME),
               "padding": Opt(TEXT), "lengths": Opt(TEXT), "semantics": Opt(TEXT)}, required=("kind",))
STREAMING = Obj({"states": List(Obj({"input": NAME, "output": NAME, "units": COUNT, "layer": Opt(TEXT), "kind": Opt(TEXT)},
                                    required=("input", "output")), 0, 1024),
                 "sequence_length": Opt(COUNT), "model_output": Opt(Str(choices=("every_step", "last_step")))}, required=("states",))
TOKENIZER = Obj({"type": Opt(TEXT), "lowercase": Bool(), "pattern": Str(64), "token_pattern": Str(200), "pad_id": Int(0, 2**31 - 1),
                 "oov_id": Int(0, 2**31 - 1), "max_len": Int(1, 1_000_000), "padding": Opt(TEXT), "words": List(Str(1000), 0, 2_000_000)},
                required=("words", "max_len"))
PREPROCESSING = Obj({"mean": List(Num(), 1, 1_000_000), "std": List(Num(nonzero=True), 1, 1_000_000), "normalize": Opt(TEXT),
                     "center": Num(), "scale": Num(nonzero=True), "window": Opt(COUNT), "horizon": Opt(Int(0, 2**31 - 1)),
                     "padding": Opt(TEXT), "tokenizer": TOKENIZER, "note": Opt(TEXT), "source": Opt(TEXT)})
CAPTIONER = Obj({"role": Str(choices=("encoder", "decoder")), "image_input": NAME, "token_input": NAME, "output": NAME,
                 "start": Int(0, 2**31 - 1), "end": Int(0, 2**31 - 1), "never": List(Int(0, 2**31 - 1), 0, 1_000_000),
                 "prefix_length": COUNT, "features": List(NAME, 0, 256),
                 "states": List(Obj({"input": NAME, "output": NAME, "init": NAME, "units": COUNT}, required=("input", "output", "init", "units")), 0, 256),
                 "greedy_agreement": Opt(Num()), "check_images": Opt(Int(0, 2**31 - 1))},
                required=("role", "image_input", "token_input", "output", "start", "end", "prefix_length", "features", "states"))

#: the manifest: every field the runtime reads; the rest (parity, ops, source model, ...) is informational
MANIFEST = Obj({
    "schema_version": Opt(Int(0, 10**6)), "format_version": Int(1, 10**6), "lstm_deploy_version": Opt(Str(64)),
    "format": Opt(Str(64)), "quantization": Opt(Str(64)), "artifact": Opt(Str(255)),
    "artifact_sha256": Opt(SHA256), "size_bytes": Opt(Int(0, 2**62)), "batch_size": Opt(COUNT),
    "input_name": Opt(NAME), "output_name": Opt(NAME), "input_range": Opt(Range()),
    "input_names": Opt(List(NAME, 1, 256, unique=True)), "input_ranges": Opt(MapOf(NAME, Opt(Range()))),
    "inputs": Opt(List(TENSOR, 0, 1024)), "outputs": Opt(List(TENSOR, 0, 1024)),
    "masking": Opt(MASKING), "streaming": Opt(STREAMING), "state": Opt(Obj({})),
    "labels": Opt(List(OneOf(Str(1000), Num()), 0, 1_000_000)),
    "preprocessing": Opt(PREPROCESSING), "captioner": Opt(CAPTIONER),
})
