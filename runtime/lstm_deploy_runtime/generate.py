"""Captioning: an exported encoder plus single-step decoder, decoded greedily or by beam search."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import RuntimeError_
from .inputs import run_all
from .model import Model


def _decode_step(decoder: Model, wiring: dict[str, Any], token: int, state: dict[str, np.ndarray],
                 features: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """log P(next token) after ``token`` and the next state (batch 1)."""
    dtype = decoder._backend.inputs[wiring["token_input"]].dtype
    out = run_all(decoder, {wiring["token_input"]: np.array([token], dtype), **state, **features})
    probs = np.asarray(out[wiring["output"]][0], np.float64)
    with np.errstate(divide="ignore"):
        logp = np.log(np.clip(probs, 0.0, None)) if probs.min() >= 0 and abs(probs.sum() - 1) < 1e-3 else probs - np.logaddexp.reduce(probs)
    logp[[t for t in wiring.get("never") or [] if t < len(logp)]] = -np.inf  # padding is never a word
    return logp, {s["input"]: out[s["output"]] for s in wiring["states"]}


def generate(encoder: Model, decoder: Model, image: np.ndarray, *, beam: int = 1, max_len: int | None = None) -> list[int]:
    """Caption one ``image`` with an exported captioner: greedy (``beam=1``) or beam search of width ``beam``.

    Starts from the decoder manifest's start token, stops at its end token (not included) or
    after ``max_len`` tokens (default: the Keras model's prefix length). Beam search keeps the
    ``beam`` most likely prefixes (sum of log probabilities) and returns the most likely
    finished caption. Greedy equals the Keras model's own greedy decoding token for token (fp32).

    Example:
        >>> enc, dec = Model.load("cap.encoder.fp32.onnx"), Model.load("cap.decoder.fp32.onnx")  # doctest: +SKIP
        >>> generate(enc, dec, image, beam=3)                                                        # doctest: +SKIP
        [14, 7, 3]
    """
    wiring = decoder.manifest.get("captioner")
    if not wiring or wiring.get("role") != "decoder":
        raise RuntimeError_(f"{decoder.path.name} is not a captioner decoder (export it with export_captioner)")
    if beam < 1:
        raise RuntimeError_(f"beam: expected a width of at least 1, got {beam}")
    name = wiring["image_input"]
    x = np.asarray(image)[None]
    encoded = run_all(encoder, {name: x})  # run_all casts (or quantizes) to the encoder's input
    missing = [s["init"] for s in wiring["states"] if s["init"] != "zeros" and s["init"] not in encoded]
    missing += [f for f in wiring["features"] if f not in encoded]
    if missing:
        raise RuntimeError_(f"{encoder.path.name} has no output {missing[0]!r} that {decoder.path.name} takes; "
                            "load the encoder exported together with this decoder")
    state = {s["input"]: encoded[s["init"]] if s["init"] != "zeros" else np.zeros((1, s["units"]), np.float32) for s in wiring["states"]}
    features = {f: encoded[f] for f in wiring["features"]}
    cap = int(max_len or wiring["prefix_length"])
    beams: list[tuple[float, list[int], dict[str, np.ndarray]]] = [(0.0, [], state)]
    finished: list[tuple[float, list[int]]] = []
    for _ in range(cap):
        candidates = []
        for score, tokens, st in beams:
            logp, nxt_state = _decode_step(decoder, wiring, tokens[-1] if tokens else wiring["start"], st, features)
            for tok in np.argsort(-logp, kind="stable")[:beam]:
                candidates.append((score + float(logp[tok]), tokens + [int(tok)], nxt_state))
        candidates.sort(key=lambda c: -c[0])
        beams = []
        for score, tokens, st in candidates[:beam]:
            if tokens[-1] == wiring["end"]:
                finished.append((score, tokens[:-1]))
            else:
                beams.append((score, tokens, st))
        if not beams:
            break
    finished += [(score, tokens) for score, tokens, _ in beams]  # cut at the length cap
    return max(finished, key=lambda f: f[0])[1]
