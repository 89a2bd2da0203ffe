"""A captioner as two artifacts: the image encoder and a single-step decoder with explicit LSTM state.

A next-word captioner ``(image, caption prefix) -> P(next word)`` recomputes the whole
prefix for every word. For generation it is split at the tensors that cross from the
image branch into the caption branch:

* **encoder** ``image -> {<layer>: tensor, ...}``: the image features (*merge*) or the
  LSTM's ``initial_state`` ``[h0, c0]`` (*inject*), run once per image;
* **decoder** ``(token, state_h, state_c, features...) -> (output, next_h, next_c)``: one
  LSTM cell step (the streaming export) followed by the per-step head; its state starts at
  the encoder's ``h0``/``c0`` (inject) or at zeros (merge).

Stepping one token at a time is exactly Keras' masked LSTM over a post-padded prefix, so
:func:`lstm_deploy.runtime.generate` on the two artifacts produces the tokens of
:func:`keras_greedy` (checked by ``tests/captioning/test_generate.py``).

Example:
    >>> parts = captioner_parts(tfk_model)                               # doctest: +SKIP
    >>> [name for name, _, _ in parts.decoder.inputs]                    # doctest: +SKIP
    ['token', 'state_h', 'state_c', 'dense']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import _tf
from ..errors import UnsupportedLayerError
from .plan import OUTPUT, ExportPlan, _lstm_step

TOKEN, STATE_H, STATE_C, NEXT_H, NEXT_C = "token", "state_h", "state_c", "next_h", "next_c"
#: Layers allowed on the caption branch after the LSTM (each acts on one step).
_HEAD = frozenset({"Dense", "Dropout", "Activation", "BatchNormalization", "LayerNormalization", "Add", "Concatenate"})
_WHY = "captioner export"


@dataclass(frozen=True)
class CaptionerParts:
    """The encoder and decoder plans plus the wiring ``generate`` needs (written into both manifests)."""

    encoder: ExportPlan
    decoder: ExportPlan
    wiring: dict[str, Any]


def _ref_name(ref: tuple[str, int, int]) -> str:
    return ref[0] if ref[2] == 0 else f"{ref[0]}_{ref[2]}"


def _split(graph: Any) -> tuple[str, str, list[Any], list[Any], Any]:
    """(image input, token input, encoder layer specs, caption-branch specs, the LSTM spec)."""
    names = [name for name, _, _ in graph.inputs]
    embeds = [s for s in graph.layers if s.class_name == "Embedding" and s.inbound and s.inbound[0][0] in names]
    if len(graph.inputs) != 2 or len(embeds) != 1 or len(graph.outputs) != 1:
        raise UnsupportedLayerError(f"{_WHY}: expected two inputs (an image and token ids read by one Embedding) and one output, "
                                    f"found inputs {', '.join(names)} and {len(graph.outputs)} output(s)")
    token = embeds[0].inbound[0][0]
    image = next(n for n in names if n != token)
    branch: set[str] = {token}
    encoder, caption = [], []
    for spec in graph.layers:
        if any(ref[0] in branch for ref in spec.inbound[: len(spec.inbound) - spec.n_state]):
            branch.add(spec.name)
            caption.append(spec)
        else:
            encoder.append(spec)
    lstms = [s for s in caption if s.class_name == "LSTM"]
    if len(lstms) != 1 or any(s.class_name not in ("Embedding", "LSTM", *_HEAD) for s in caption):
        kinds = ", ".join(f"{s.name} ({s.class_name})" for s in caption)
        raise UnsupportedLayerError(f"{_WHY}: the caption branch must be Embedding -> one LSTM -> {', '.join(sorted(_HEAD))}; found {kinds}")
    lstm = lstms[0]
    cfg = lstm.config
    if cfg.get("return_sequences") or cfg.get("go_backwards") or cfg.get("return_state") or cfg.get("stateful"):
        raise UnsupportedLayerError(f"{_WHY}: LSTM '{lstm.name}' must return only its last output (no return_sequences, "
                                    "go_backwards, return_state or stateful) to predict the next word")
    if lstm.n_state and not lstm.state_mask and embeds[0].config.get("mask_zero"):
        raise UnsupportedLayerError(
            f"{_WHY}: LSTM '{lstm.name}' is called with initial_state in Keras 3, which runs it over the padding (the mask is "
            "dropped), so its predictions depend on the padding and one-token steps cannot reproduce them; call it as "
            "LSTM(...)(x, initial_state=[h, c], mask=embedding.compute_mask(tokens)) and retrain, or use tf_keras")
    return image, token, encoder, caption, lstm


def captioner_parts(model: Any, *, start: int, end: int) -> CaptionerParts:
    """Split the tf_keras captioner ``model`` into an encoder and a single-step decoder plan.

    Args:
        model: a tf_keras next-word captioner (bridge Keras 3 models first).
        start / end: the start and end token ids (written into the decoder's manifest for ``generate``).
    """
    from ..load.graph import read_graph

    tf = _tf.tf()
    graph = read_graph(model)
    image, token, encoder, caption, lstm = _split(graph)
    enc_names = {s.name for s in encoder} | {image}
    crossing: list[tuple[str, int, int]] = []
    for spec in caption:
        crossing += [ref for ref in spec.inbound if ref[0] in enc_names and ref not in crossing]
    state_refs = lstm.inbound[len(lstm.inbound) - lstm.n_state:]
    features = [ref for ref in crossing if ref not in state_refs]
    layers = {s.name: model.get_layer(s.name) for s in graph.layers}
    shapes = {name: (tuple(int(d) for d in shape[1:]), dtype) for name, shape, dtype in graph.inputs}
    units = int(lstm.config["units"])

    def encoder_fn(x: Any) -> dict[str, Any]:
        tensors: dict[str, Any] = {image: [x]}
        for spec in encoder:
            args = [tensors[r[0]][r[2]] for r in spec.inbound]
            out = layers[spec.name](args if spec.list_input else args[0], training=False)
            tensors[spec.name] = list(out) if isinstance(out, (list, tuple)) else [out]
        return {_ref_name(r): tf.identity(tensors[r[0]][r[2]]) for r in crossing}

    def decoder_fn(tok: Any, h: Any, c: Any, *feats: Any) -> dict[str, Any]:
        tensors: dict[str, Any] = {r[0]: {r[2]: f} for r, f in zip(features, feats)}
        tensors[token] = {0: tok}
        out: dict[str, Any] = {}
        for spec in caption:
            args = [tensors[r[0]][r[2]] for r in spec.inbound[: len(spec.inbound) - spec.n_state]]
            if spec is lstm:
                y, c_new = _lstm_step(layers[spec.name], args[0], h, c)
                out[NEXT_H], out[NEXT_C] = y, c_new
            elif spec.class_name == "Embedding":
                y = tf.identity(layers[spec.name](args[0]))  # identity drops the Keras mask
            else:
                y = layers[spec.name](args if spec.list_input else args[0], training=False)
            tensors[spec.name] = {0: y}
        name, _, index = graph.outputs[0]
        return {OUTPUT: tf.identity(tensors[name][index]), **out}

    img_shape, img_dtype = shapes[image]
    enc_plan = ExportPlan(model, img_shape, img_dtype, None, encoder_fn, 0, inputs=[(image, img_shape, img_dtype)],
                          extra={"input_ranges": {}, "output_name": _ref_name(crossing[0])})
    feat_inputs = [(_ref_name(r), tuple(int(d) for d in layers[r[0]].output_shape[1:]) if not isinstance(layers[r[0]].output_shape, list)
                    else tuple(int(d) for d in layers[r[0]].output_shape[r[2]][1:]), "float32") for r in features]
    dec_inputs = [(TOKEN, (), shapes[token][1]), (STATE_H, (units,), "float32"), (STATE_C, (units,), "float32"), *feat_inputs]
    vocab = int(next(s for s in caption if s.class_name == "Embedding").config["input_dim"])
    dec_plan = ExportPlan(model, (), shapes[token][1], None, decoder_fn, 0, inputs=dec_inputs, extra={"input_ranges": {TOKEN: [0, vocab - 1]}})
    masked = bool(next(s for s in caption if s.class_name == "Embedding").config.get("mask_zero"))
    wiring = {"image_input": image, "token_input": TOKEN, "output": OUTPUT, "start": int(start), "end": int(end),
              "never": [0] if masked else [],  # token 0 is padding under mask_zero: never generated
              "prefix_length": int(shapes[token][0][0]),
              "states": [{"input": STATE_H, "output": NEXT_H, "init": _ref_name(state_refs[0]) if state_refs else "zeros", "units": units},
                         {"input": STATE_C, "output": NEXT_C, "init": _ref_name(state_refs[1]) if state_refs else "zeros", "units": units}],
              "features": [name for name, _, _ in feat_inputs]}
    return CaptionerParts(enc_plan, dec_plan, wiring)


def keras_greedy(model: Any, images: np.ndarray, *, start: int, end: int, max_len: int | None = None) -> list[list[int]]:
    """Greedy captions from the Keras next-word ``model`` itself: prefixes post-padded with 0, argmax each step
    (over the tokens other than 0 when the model masks token 0 as padding).

    The reference :func:`lstm_deploy.runtime.generate` must equal (without the start token, up to
    the end token, at most ``max_len`` (default: the prefix length) tokens).
    """
    from ..load.flavours import input_names, predict

    names = input_names(model)
    token = next(n for n, t in zip(names, model.inputs) if "int" in str(t.dtype))
    image = next(n for n in names if n != token)
    length = int(dict(zip(names, model.inputs))[token].shape[1])
    masked = any(getattr(layer, "mask_zero", False) for layer in model.layers)
    cap = min(max_len or length, length)
    prefix = np.zeros((len(images), length), "int32")
    prefix[:, 0] = start
    captions: list[list[int]] = [[] for _ in images]
    done = np.zeros(len(images), bool)
    for step in range(cap):
        probs = predict(model, {image: images, token: prefix})
        if masked:
            probs[:, 0] = -np.inf
        nxt = probs.argmax(axis=-1)
        for i in np.flatnonzero(~done):
            if nxt[i] == end:
                done[i] = True
            else:
                captions[i].append(int(nxt[i]))
        if done.all() or step + 1 >= length:
            break
        prefix[:, step + 1] = np.where(done, 0, nxt)
    return captions


@dataclass(frozen=True)
class CaptionerArtifact:
    """One written encoder/decoder pair and how its greedy captions compare with Keras' on the check images."""

    encoder: Path
    decoder: Path
    format: str
    quantization: str
    greedy_agreement: float  # share of check images whose caption equals Keras' greedy caption exactly
    size_bytes: int  # decoder bytes


def export_captioner(model: Any, out_dir: str | Path, *, start: int, end: int, images: np.ndarray | None = None,
                     formats: tuple[str, ...] = ("tflite", "onnx"), quantize: tuple[str, ...] = ("fp32",),
                     name: str = "captioner", preprocessing: dict[str, Any] | None = None) -> list[CaptionerArtifact]:
    """Write ``<name>.encoder.fp32.<fmt>`` and ``<name>.decoder.<quantization>.<fmt>`` (+ manifests) per format.

    Every pair captions ``images`` (default: 8 seeded random images) with
    :func:`lstm_deploy.runtime.generate` and compares with :func:`keras_greedy`; an fp32 pair that
    differs on any image raises :class:`ParityError` and is not written; quantized decoders record
    their agreement in the manifest (``captioner.greedy_agreement``). The encoder stays fp32.
    ``preprocessing`` (the caption vocabulary, image scaling) is copied into both manifests for apps.

    Example:
        >>> arts = export_captioner(keras_model, "out", start=1, end=2, quantize=("fp32", "dynamic"))   # doctest: +SKIP
        >>> [(a.quantization, a.greedy_agreement) for a in arts]                                           # doctest: +SKIP
        [('fp32', 1.0), ('dynamic', 0.875)]
    """
    from .. import runtime
    from ..atomic import atomic_path
    from ..errors import ParityError
    from ..load.flavours import flavour_of, to_tf_keras
    from . import manifest as manifest_mod
    from .convert import FORMATS, convert, load_artifact

    tfk = to_tf_keras(model) if flavour_of(model) == "keras3" else model
    parts = captioner_parts(tfk, start=start, end=end)
    if images is None:
        images = np.random.default_rng(0).standard_normal((8, *parts.encoder.input_shape)).astype(np.float32)
    reference = keras_greedy(model, images, start=start, end=end)
    out, results = Path(out_dir), []
    for fmt in formats:
        enc = convert(parts.encoder, fmt, "fp32")
        for quant in quantize:
            dec = convert(parts.decoder, fmt, quant)
            e_model, d_model = load_artifact(enc), load_artifact(dec)
            d_model.manifest["captioner"] = {"role": "decoder", **parts.wiring}
            produced = [runtime.generate(e_model, d_model, img) for img in images]
            agreement = float(np.mean([p == r for p, r in zip(produced, reference)]))
            if quant == "fp32" and agreement < 1.0:
                bad = next(i for i, (p, r) in enumerate(zip(produced, reference)) if p != r)
                raise ParityError(f"{fmt} captioner: image {bad} captioned {produced[bad]} but Keras greedy gives {reference[bad]}")
            paths = [out / f"{name}.encoder.fp32{FORMATS[fmt].suffix}", out / f"{name}.{'decoder'}.{quant}{FORMATS[fmt].suffix}"]
            for art, path, role in ((enc, paths[0], "encoder"), (dec, paths[1], "decoder")):
                manifest = manifest_mod.build_manifest(artifact=path, converted=art, source={"flavour": flavour_of(model)},
                                                     extra={"preprocessing": preprocessing})
                manifest["captioner"] = {"role": role, **parts.wiring, "greedy_agreement": agreement, "check_images": len(images)}
                with atomic_path(path) as tmp, atomic_path(manifest_mod.manifest_path(path)) as mtmp:
                    tmp.write_bytes(art.data)
                    mtmp.write_text(manifest_mod.dumps(manifest), encoding="utf-8")
            results.append(CaptionerArtifact(paths[0], paths[1], fmt, quant, agreement, dec.size_bytes))
    return results
