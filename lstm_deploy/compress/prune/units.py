"""Structured pruning: remove whole LSTM hidden units, leaving a smaller dense model.

An LSTM with ``u`` units has ``kernel [in, 4u]``, ``recurrent_kernel [u, 4u]`` and
``bias [4u]`` with the gate blocks i, f, c, o side by side. Removing unit ``j`` drops
column ``j`` of every gate block in all three, row ``j`` of the recurrent kernel, and
the input row(s) that read unit ``j`` in every consumer: the next LSTM's kernel,
``Dense`` / ``Conv1D`` / ``TimeDistributed`` kernels, through ``Dropout``-like layers
and pooling, with ``BatchNormalization`` sliced alongside. For ``Bidirectional`` with
``concat`` both directions lose the same *number* of units (their own choice of
which); with ``sum``/``ave``/``mul`` they lose the *same* units.

Units also cross the two joins of an image captioner, by slicing the ``Dense`` layers that
must shrink with the LSTM (their output columns): an element-wise merge (``Add`` ...)
of the LSTM with a ``Dense`` (the *merge* captioner's image features), and an
``initial_state=[h0, c0]`` computed by ``Dense`` layers (the *inject* captioner). Such a
Dense must feed nothing else.

Before fine-tuning the result equals the original model with the removed units'
outgoing weights (recurrent rows, consumer rows) set to zero -- the tests check that.

Importance of unit ``j`` = ||weights into j (4 gate columns of kernel, recurrent kernel,
bias)|| x ||weights out of j (its recurrent row and its consumers' rows)||. For the
global ranking scores are divided by their layer's mean, so layers of different scale
compete fairly; every layer keeps at least one unit.

Example:
    >>> res = unit_prune(model, 0.5)              # doctest: +SKIP
    >>> res.units_before, res.units_after         # doctest: +SKIP
    ({'lstm': 64, 'lstm_1': 64}, {'lstm': 30, 'lstm_1': 34})
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import InputError, UnsupportedLayerError
from ...load.layers import LAYERS

#: Layers that pass features through unchanged (per feature), so pruning can look past them.
PASS_THROUGH = frozenset(
    {"Dropout", "SpatialDropout1D", "Activation", "GlobalAveragePooling1D", "GlobalMaxPooling1D", "MaxPooling1D", "AveragePooling1D"}
)
#: Per-feature layers whose weights are sliced along with the features.
PER_FEATURE = frozenset({"BatchNormalization"})
#: Layers that read features through the rows (axis -2) of their kernel(s).
ROW_CONSUMERS = frozenset({"LSTM", "GRU", "Bidirectional", "Dense", "Conv1D", "TimeDistributed"})
MERGES = ("concat", "sum", "ave", "mul")
#: Element-wise merges: every input has the LSTM's width, so the other inputs shrink with it.
ELEMENTWISE = frozenset({"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"})


@dataclass
class _Producer:
    name: str
    units: int
    directions: int  # 1 (LSTM) or 2 (Bidirectional)
    merge: str | None
    consumers: list[str] = field(default_factory=list)  # row consumers and per-feature layers downstream
    columns: list[str] = field(default_factory=list)  # Dense layers whose outputs shrink with the units (merge partners, initial states)


@dataclass(frozen=True)
class UnitPruneResult:
    """The smaller model and exactly which units survived.

    ``kept[layer]`` holds one sorted tuple of kept unit indices per direction
    (one for LSTM, forward and backward for Bidirectional).
    """

    model: Any
    kept: dict[str, tuple[tuple[int, ...], ...]]
    units_before: dict[str, int]
    units_after: dict[str, int]
    skipped: dict[str, str]

    @property
    def fraction_removed(self) -> float:
        """Share of all prunable units (counting both directions) that was removed."""
        before = sum(self.units_before[n] * len(self.kept[n]) for n in self.kept)
        after = sum(self.units_after[n] * len(self.kept[n]) for n in self.kept)
        return 1.0 - after / before if before else 0.0


def _layer_units(spec: Any) -> tuple[int, int, str | None] | str:
    """(units, directions, merge) for a unit-prunable layer, or the reason it is not."""
    cfg = spec.config
    if spec.class_name == "LSTM":
        if cfg.get("return_state"):
            return "returns its states"
        return int(cfg["units"]), 1, None
    if spec.class_name == "Bidirectional":
        inner = cfg.get("layer") or {}
        if inner.get("class_name") != "LSTM":
            return f"wraps {inner.get('class_name')}, not LSTM"
        if inner["config"].get("return_state"):
            return "returns its states"
        merge = cfg.get("merge_mode", "concat")
        if merge not in MERGES:
            return f"merge_mode {merge!r} (supported: {', '.join(MERGES)})"
        return int(inner["config"]["units"]), 2, merge
    return LAYERS.get(spec.class_name, LAYERS["InputLayer"]).unit_prune or "not an LSTM layer"


@dataclass(frozen=True)
class _Wiring:
    """Who feeds whom in a graph: layers by name, each tensor's consumers, the model's output layers."""

    by_name: dict[str, Any]
    consumers: dict[str, list[str]]
    outputs: set[str]


def _wiring(graph: Any) -> _Wiring:
    consumers: dict[str, list[str]] = defaultdict(list)
    for spec in graph.layers:
        for ref in spec.inbound:
            consumers[ref[0]].append(spec.name)
    return _Wiring({s.name: s for s in graph.layers}, consumers, {ref[0] for ref in graph.outputs})


def _column_source(name: str, target: str, w: _Wiring) -> str:
    """The Dense whose output columns become ``target``'s input ``name`` (through pass-through layers), or raise why not."""
    current = name
    while True:
        spec = w.by_name.get(current)
        if spec is None or any(c != target for c in w.consumers.get(current, [])):
            raise _Refusal(f"'{current}', which also feeds other layers")
        if spec.class_name == "Dense":
            return current
        if spec.class_name not in PASS_THROUGH or len(spec.inbound) != 1:
            raise _Refusal(f"'{current}' ({spec.class_name}), not a Dense layer whose outputs can shrink with it")
        target, current = current, spec.inbound[0][0]


class _Refusal(Exception):
    """Why a unit cannot be removed (the message), raised inside the graph walk."""


def _walk(w: _Wiring, name: str) -> tuple[list[str], list[str]]:
    """(row consumers and per-feature layers, Dense layers sliced by output column) that shrink with LSTM ``name``'s units."""
    found: list[str] = []
    columns: list[str] = []
    spec = w.by_name[name]
    for ref in spec.inbound[len(spec.inbound) - spec.n_state:] if spec.n_state else []:  # initial_state=[h0, c0]
        try:
            columns.append(_column_source(ref[0], name, w))
        except _Refusal as why:
            raise _Refusal(f"its initial_state comes from {why}") from None
    queue = [name]
    while queue:
        current = queue.pop(0)
        if current in w.outputs:
            raise _Refusal("its units reach the model's outputs directly")
        for nxt in w.consumers.get(current, []):
            spec = w.by_name[nxt]
            if spec.n_state and any(ref[0] == current for ref in spec.inbound[1:]):
                raise _Refusal(f"its output is the initial_state of '{nxt}'")
            if spec.class_name in ELEMENTWISE:
                for ref in (r for r in spec.inbound if r[0] != current):
                    try:
                        columns.append(_column_source(ref[0], nxt, w))
                    except _Refusal as why:
                        raise _Refusal(f"its output is merged in '{nxt}' ({spec.class_name}) with {why}") from None
                queue.append(nxt)
            elif spec.list_input:
                raise _Refusal(f"its output feeds the multi-input layer '{nxt}' ({spec.class_name})")
            elif spec.class_name in PASS_THROUGH or spec.class_name in PER_FEATURE:
                if spec.class_name in PER_FEATURE:
                    found.append(nxt)
                queue.append(nxt)
            elif spec.class_name in ROW_CONSUMERS:
                if spec.class_name == "TimeDistributed" and (spec.config.get("layer") or {}).get("class_name") not in ("Dense", "Conv1D"):
                    raise _Refusal(f"its output feeds '{nxt}' (TimeDistributed without a kernel)")
                found.append(nxt)
            else:
                raise _Refusal(f"its output feeds '{nxt}' ({spec.class_name}), which unit pruning cannot slice")
    return found, list(dict.fromkeys(columns))


def _find_consumers(w: _Wiring, name: str) -> tuple[list[str], list[str]] | str:
    """:func:`_walk`, or the reason the LSTM keeps its units."""
    try:
        return _walk(w, name)
    except _Refusal as why:
        return str(why)


def _gate_cols(units: int, keep: np.ndarray, gates: int = 4) -> np.ndarray:
    return np.concatenate([g * units + keep for g in range(gates)])


def _direction_weights(weights: list[np.ndarray], d: int, directions: int) -> list[np.ndarray]:
    n = len(weights) // directions
    return weights[d * n : (d + 1) * n]


def _feature_index(prod: _Producer, d: int, j: np.ndarray) -> np.ndarray:
    return j + d * prod.units if prod.merge == "concat" else j


def _kernel_indices(spec: Any) -> list[int]:
    if spec.class_name == "Bidirectional":
        return [0, len(spec.weights) // 2]
    return [0]


def _scores(prod: _Producer, by_name: dict[str, Any]) -> list[np.ndarray]:
    spec = by_name[prod.name]
    u = prod.units
    out = []
    for d in range(prod.directions):
        w = _direction_weights(spec.weights, d, prod.directions)
        kernel, rec = w[0], w[1]
        bias = w[2] if len(w) > 2 else np.zeros(4 * u, np.float32)
        units = np.arange(u)
        w_in = np.zeros(u)
        for g in range(4):
            cols = g * u + units
            w_in += (kernel[:, cols] ** 2).sum(0) + (rec[:, cols] ** 2).sum(0) + bias[cols] ** 2
        for c in prod.columns:  # a Dense whose outputs shrink with the units: its columns feed unit j too
            w_in += (by_name[c].weights[0] ** 2).sum(0) + (by_name[c].weights[1] ** 2 if len(by_name[c].weights) > 1 else 0)
        w_out = (rec**2).sum(1)
        feats = _feature_index(prod, d, units)
        for c in prod.consumers:
            cspec = by_name[c]
            if cspec.class_name in PER_FEATURE:
                continue
            for k in _kernel_indices(cspec):
                kern = cspec.weights[k]
                rows = np.take(kern, feats, axis=kern.ndim - 2) ** 2
                w_out += np.moveaxis(rows, kern.ndim - 2, 0).reshape(u, -1).sum(1)
        out.append(np.sqrt(w_in) * np.sqrt(w_out))
    if prod.merge in ("sum", "ave", "mul"):
        out = [out[0] + out[1]] * 2
    return out


def _allocate(prods: list[_Producer], scores: dict[str, list[np.ndarray]], sparsity: float, per_layer: bool) -> dict[str, int]:
    """Units to remove per layer (per direction)."""
    if per_layer:
        return {p.name: min(int(round(sparsity * p.units)), p.units - 1) for p in prods}
    items: list[tuple[float, str]] = []
    for p in prods:
        s = scores[p.name]
        mean = float(np.mean(np.concatenate(s))) or 1.0
        for d in range(p.directions):
            items += [(float(v) / mean, p.name) for v in s[d]]
    items.sort(key=lambda t: t[0])
    n_remove = int(round(sparsity * len(items)))
    counts: dict[str, int] = defaultdict(int)
    for _, name in items[:n_remove]:
        counts[name] += 1
    return {p.name: min(int(round(counts[p.name] / p.directions)), p.units - 1) for p in prods}


def unit_prune(model: Any, sparsity: float, *, layers: tuple[str, ...] | None = None, per_layer: bool = False) -> UnitPruneResult:
    """Remove ``sparsity`` of the LSTM units (globally ranked, or per layer) and rebuild a smaller model.

    Works on both Keras flavours and returns the same flavour; ``model`` is not modified.
    No fine-tuning happens here (see :func:`lstm_deploy.compress.prune.prune_model`).

    Raises:
        InputError: ``sparsity`` outside [0, 1), ``layers`` naming no layer, or a sparsity too small
            to remove a single unit.
        UnsupportedLayerError: no LSTM whose units can be removed (the message says why for each).

    Example:
        >>> small = unit_prune(model, 0.5).model      # doctest: +SKIP
    """
    from ...load.flavours import build_model, flavour_of, read_graph

    if not 0.0 <= sparsity < 1.0:
        raise InputError(f"--sparsity: expected a fraction of units in [0, 1), got {sparsity!r}")
    graph = read_graph(model)
    wiring = _wiring(graph)
    by_name = wiring.by_name
    if layers is not None:
        for name in layers:
            if name not in by_name:
                raise InputError(f"--layers: model has no layer named '{name}'; its layers: {', '.join(by_name)}")
    prods: list[_Producer] = []
    skipped: dict[str, str] = {}
    for spec in graph.layers:
        if layers is not None and spec.name not in layers:
            continue
        info = _layer_units(spec)
        if isinstance(info, str):
            if layers is not None:
                raise UnsupportedLayerError(f"--layers: cannot remove units of layer '{spec.name}' ({spec.class_name}): {info}")
            if spec.n_state:
                skipped[spec.name] = info
            continue
        found = _find_consumers(wiring, spec.name)
        if isinstance(found, str):
            if layers is not None:
                raise UnsupportedLayerError(f"--layers: cannot remove units of layer '{spec.name}': {found}")
            skipped[spec.name] = found
            continue
        prods.append(_Producer(spec.name, info[0], info[1], info[2], *found))
    if not prods:
        why = "; ".join(f"'{k}': {v}" for k, v in skipped.items()) or "it has no LSTM or Bidirectional(LSTM) layer"
        raise UnsupportedLayerError(f"model has no LSTM layer whose units can be removed ({why})")
    scores = {p.name: _scores(p, by_name) for p in prods}
    remove = _allocate(prods, scores, sparsity, per_layer)
    if sparsity > 0 and sum(remove.values()) == 0:
        total = sum(p.units * p.directions for p in prods)
        raise InputError(
            f"--sparsity {sparsity} removes no unit: the prunable LSTM layers have {total} units in total "
            f"({', '.join(f'{p.name}: {p.units}' for p in prods)}); use a larger sparsity"
        )
    kept: dict[str, tuple[tuple[int, ...], ...]] = {}
    for p in prods:
        n_keep = p.units - remove[p.name]
        keeps = []
        for d in range(p.directions):
            order = np.argsort(-scores[p.name][d], kind="stable")
            keeps.append(tuple(int(i) for i in np.sort(order[:n_keep])))
        kept[p.name] = tuple(keeps)
    new_graph = _rebuild_graph(graph, prods, kept)
    pruned = build_model(new_graph, flavour_of(model))
    return UnitPruneResult(
        pruned, kept, {p.name: p.units for p in prods}, {p.name: len(kept[p.name][0]) for p in prods}, skipped
    )


def _rebuild_graph(graph: Any, prods: list[_Producer], kept: dict[str, tuple[tuple[int, ...], ...]]) -> Any:
    new = copy.deepcopy(graph)
    keep_in: dict[str, np.ndarray] = {}
    keep_out: dict[str, np.ndarray] = {}
    for p in prods:
        ks = [np.asarray(k, dtype=np.int64) for k in kept[p.name]]
        feats = np.concatenate([_feature_index(p, d, ks[d]) for d in range(p.directions)]) if p.merge == "concat" else ks[0]
        for c in p.consumers:
            keep_in[c] = feats
        for c in p.columns:
            keep_out[c] = ks[0]
    for spec in new.layers:
        w = list(spec.weights)
        if spec.name in keep_out:  # a Dense shrinking with an LSTM: kernel columns and bias
            cols = keep_out[spec.name]
            w = [w[0][:, cols], *(b[cols] for b in w[1:])]
            spec.config["units"] = len(cols)
        if spec.name in keep_in:
            idx = keep_in[spec.name]
            if spec.class_name in PER_FEATURE:
                w = [np.take(a, idx, axis=-1) for a in w]
            else:
                for k in _kernel_indices(spec):
                    w[k] = np.take(w[k], idx, axis=w[k].ndim - 2)
        prod = next((p for p in prods if p.name == spec.name), None)
        if prod is not None:
            u = prod.units
            for d in range(prod.directions):
                keep = np.asarray(kept[prod.name][d], dtype=np.int64)
                n = len(w) // prod.directions
                cols = _gate_cols(u, keep)
                w[d * n] = w[d * n][:, cols]
                w[d * n + 1] = w[d * n + 1][keep][:, cols]
                if n > 2:
                    w[d * n + 2] = w[d * n + 2][cols]
            n_keep = len(kept[prod.name][0])
            if spec.class_name == "LSTM":
                spec.config["units"] = n_keep
            else:
                for key in ("layer", "backward_layer"):
                    if isinstance(spec.config.get(key), dict):
                        spec.config[key]["config"]["units"] = n_keep
        spec.weights = w
    return new


def unit_problems(graph: Any) -> dict[str, str]:
    """Why :func:`unit_prune` leaves each LSTM of ``graph`` (a :class:`~lstm_deploy.load.graph.GraphSpec`) alone.

    Only layers it would skip are listed; ``inspect`` uses it for models with several inputs.

    Example:
        >>> unit_problems(read_graph(captioner_whose_image_dense_also_feeds_the_head))   # doctest: +SKIP
        {'lstm': "its output is merged in 'add' (Add) with 'dense', which also feeds other layers"}
    """
    wiring = _wiring(graph)
    out: dict[str, str] = {}
    for spec in graph.layers:
        if spec.class_name not in ("LSTM", "Bidirectional"):
            continue
        info = _layer_units(spec)
        found = info if isinstance(info, str) else _find_consumers(wiring, spec.name)
        if isinstance(found, str):
            out[spec.name] = found
    return out
