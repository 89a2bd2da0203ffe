"""The one model zoo of the test suite: tiny models, a trained classifier, cached exports.

Each builder takes the Keras module (``keras`` or ``tf_keras``) and returns a small
seeded model. :data:`ZOO` covers every supported layer (``test_zoo_covers_registry``
fails if a layer in ``lstm_deploy.load.layers.SUPPORTED`` has no model here);
:data:`EXPORT_ZOO` covers every architecture the export route handles (stacked,
Bidirectional, Masking, Embedding(mask_zero), Conv1D+LSTM, RNN(StackedRNNCells),
return_sequences + TimeDistributed, a regression head); :data:`EDGE_ZOO` holds the
configurations a stage refuses or cannot fuse. :func:`trained_classifier` and
:func:`exported` are built once per test run: :func:`shared_dir` lets the first xdist
worker that needs one build it while the others wait, then every worker loads the files.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import os
import pickle
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

T, F = 6, 3  # sequence length, features
CLF_F = 32  # features of the trained classifier


def stacked(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.LSTM(5, return_sequences=True), L.LSTM(4, go_backwards=True, unit_forget_bias=False), L.Dense(3, activation="softmax")])


def lstm_options(k: Any) -> Any:
    L = k.layers
    return k.Sequential([
        k.Input((T, F)),
        L.LSTM(4, return_sequences=True, activation="relu", recurrent_activation="tanh", use_bias=False, dropout=0.1, recurrent_dropout=0.1),
        L.GRU(3),
        L.Dense(1),
    ])


def bidirectional(k: Any) -> Any:
    L = k.layers
    i = k.Input((T, F))
    a = L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode="concat")(i)
    b = L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="sum")(a)
    c = L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="mul")(b)
    d = L.Bidirectional(L.LSTM(3), merge_mode="ave")(c)
    return k.Model(i, L.Dense(2, activation="softmax")(d))


def embedding_masked(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T,), dtype="int32"), L.Embedding(12, 4, mask_zero=True), L.LSTM(4), L.Dense(2, activation="softmax")])


def masking_seq2seq(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.Masking(0.0), L.LSTM(4, return_sequences=True), L.TimeDistributed(L.Dense(2))])


def conv_lstm(k: Any) -> Any:
    L = k.layers
    return k.Sequential([
        k.Input((12, F)), L.Conv1D(4, 3, activation="relu"), L.MaxPooling1D(2), L.AveragePooling1D(1),
        L.BatchNormalization(), L.SpatialDropout1D(0.1), L.LSTM(4, return_sequences=True), L.LayerNormalization(),
        L.GlobalMaxPooling1D(), L.Dropout(0.2), L.Dense(3), L.Activation("softmax"),
    ])


def rnn_cells(k: Any) -> Any:
    L = k.layers
    return k.Sequential([
        k.Input((T, F)), L.RNN(L.LSTMCell(4), return_sequences=True), L.RNN(L.StackedRNNCells([L.LSTMCell(4), L.LSTMCell(3)])), L.Dense(1),
    ])


def functional_misc(k: Any) -> Any:
    L = k.layers
    i = k.Input((T, F))
    out, h, c = L.LSTM(4, return_state=True)(i)
    s = L.Add()([out, h])
    g = L.GlobalAveragePooling1D()(L.Reshape((2, 2))(L.Flatten()(L.Reshape((4, 1))(s))))
    return k.Model(i, [L.Concatenate()([g, c]), h])


def regression(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((None, F)), L.LSTM(4), L.Dense(1)])


def stateful(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T, F), batch_size=3), L.LSTM(4, stateful=True, return_sequences=True), L.LSTM(3, stateful=True), L.Dense(1)])


def image_lstm(k: Any) -> Any:
    """A CNN over an image whose rows feed an LSTM, beside global poolings (the 2-D layers, single input)."""
    L = k.layers
    i = k.Input((8, 8, 1))
    x = L.Conv2D(3, 3, padding="same", activation="relu")(i)
    x = L.AveragePooling2D(1)(L.MaxPooling2D(2)(L.BatchNormalization()(x)))  # (4, 4, 3)
    s = L.LSTM(4)(L.Reshape((4, 12))(x))
    return k.Model(i, L.Dense(2, activation="softmax")(L.Concatenate()([s, L.GlobalAveragePooling2D()(x), L.GlobalMaxPooling2D()(x)])))


ZOO: dict[str, Callable[[Any], Any]] = {
    f.__name__: f
    for f in (stacked, lstm_options, bidirectional, embedding_masked, masking_seq2seq, conv_lstm, rnn_cells, functional_misc, regression, stateful,
              image_lstm)
}

# ---------------------------------------------------------------- captioners (several inputs, initial_state)

CAP_VOCAB, CAP_LEN, CAP_IMAGE = 12, 5, (8, 8, 3)  # vocabulary (0 = padding), caption prefix length, image size


def _image_encoder(k: Any, image: Any) -> Any:
    L = k.layers
    x = L.Conv2D(4, 3, padding="same", activation="relu")(image)
    x = L.MaxPooling2D(2)(L.BatchNormalization()(x))
    x = L.Conv2D(4, 3, activation="relu")(L.AveragePooling2D(1)(x))
    return L.Dropout(0.2)(L.Flatten()(x))


def merge_captioner(k: Any) -> Any:
    """The textbook *merge* captioner: CNN features and the LSTM over the caption prefix, added, predict the next word."""
    L = k.layers
    image, tokens = k.Input(CAP_IMAGE, name="image"), k.Input((CAP_LEN,), dtype="int32", name="tokens")
    feat = L.Dense(6, activation="relu")(_image_encoder(k, image))
    seq = L.LSTM(6)(L.Embedding(CAP_VOCAB, 4, mask_zero=True)(tokens))
    return k.Model([image, tokens], L.Dense(CAP_VOCAB, activation="softmax")(L.Add()([feat, seq])), name="merge_captioner")


def inject_captioner(k: Any) -> Any:
    """The textbook *inject* captioner: the image encoding is the LSTM's ``initial_state=[h0, c0]``."""
    L = k.layers
    image, tokens = k.Input(CAP_IMAGE, name="image"), k.Input((CAP_LEN,), dtype="int32", name="tokens")
    x = L.GlobalAveragePooling2D()(L.Conv2D(6, 3, padding="same", activation="relu")(image))
    h0, c0 = L.Dense(6, activation="tanh")(x), L.Dense(6)(x)
    seq = L.LSTM(6)(L.Embedding(CAP_VOCAB, 4, mask_zero=True)(tokens), initial_state=[h0, c0])
    return k.Model([image, tokens], L.Dense(CAP_VOCAB, activation="softmax")(seq), name="inject_captioner")


def caption_dataset(n: int = 32) -> Any:
    """Random data for the captioners: ``x_<split>__image``, post-padded ``x_<split>__tokens``, next-word labels."""
    from lstm_deploy.load.dataset import validate_arrays

    rng = np.random.default_rng(0)
    arrays = {}
    for split in ("train", "test"):
        tokens = rng.integers(1, 12, (n, CAP_LEN))
        tokens[:, 3:] = 0  # post-padded prefixes
        arrays |= {f"x_{split}__image": rng.standard_normal((n, *CAP_IMAGE)), f"x_{split}__tokens": tokens, f"y_{split}": rng.integers(1, 12, n)}
    return validate_arrays(arrays, model_inputs={"image": CAP_IMAGE, "tokens": (CAP_LEN,)})


#: Image captioners with two inputs (image, caption prefix): tests/captioning.
CAPTION_ZOO: dict[str, Callable[[Any], Any]] = {f.__name__: f for f in (merge_captioner, inject_captioner)}


def layer_classes(model: Any) -> set[str]:
    """Every layer class in a model, wrapped layers and cells included."""
    names: set[str] = set()
    for layer in model.layers:
        names.add(layer.__class__.__name__)
        inner = getattr(layer, "layer", None)
        if inner is not None:
            names.add(inner.__class__.__name__)
    return names


# ---------------------------------------------------------------- what the stages refuse or cannot fuse


def tflite_unfused(k: Any) -> Any:
    """Fused in ONNX, WHILE loops in TFLite (activations other than tanh/sigmoid)."""
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.LSTM(4, activation="relu", return_sequences=True),
                         L.Bidirectional(L.LSTM(3, recurrent_activation="relu")), L.Dense(2)])


def quantizable_unfused(k: Any) -> Any:
    """QAT accepts it, yet no format fuses all of it (no bias: TFLite loop; recurrent dropout: loops everywhere)."""
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.LSTM(4, use_bias=False, return_sequences=True), L.LSTM(3, recurrent_dropout=0.1), L.Dense(2)])


def linear_and_grus(k: Any) -> Any:
    """A linear-activation LSTM (Loop in ONNX too), a default GRU (ONNX GRU op) and a reset_after=False GRU (Loop)."""
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.LSTM(4, activation="linear", return_sequences=True), L.GRU(4, return_sequences=True),
                         L.GRU(3, reset_after=False), L.Dense(2)])


def state_and_unroll(k: Any) -> Any:
    """return_state used inside the model (TFLite loop) and an unrolled LSTM (no sequence op anywhere)."""
    L = k.layers
    i = k.Input((T, F))
    out, h, c = L.LSTM(4, return_state=True)(i)
    rolled = L.LSTM(3, unroll=True)(i)
    return k.Model(i, L.Dense(2)(L.Concatenate()([out, h, c, rolled])))


def hard_sigmoid(k: Any) -> Any:
    """hard_sigmoid is a different function in Keras 3 and tf_keras: the bridge every stage uses refuses it."""
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.LSTM(4, recurrent_activation="hard_sigmoid"), L.Dense(2)])


def masked_backwards(k: Any) -> Any:
    """The masked export cannot run go_backwards under a mask."""
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.Masking(0.0), L.LSTM(4, go_backwards=True), L.Dense(2)])


def masked_gru(k: Any) -> Any:
    """A GRU consumes the mask, which the masked export graph cannot express."""
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.Masking(0.0), L.LSTM(4, return_sequences=True), L.GRU(3), L.Dense(2)])


#: Configurations export or QAT refuse, or cannot fuse, beyond those in :data:`ZOO`
#: (``inspect`` must say so: tests/load/test_inspect_truth.py).
EDGE_ZOO: dict[str, Callable[[Any], Any]] = {
    f.__name__: f for f in (tflite_unfused, quantizable_unfused, linear_and_grus, state_and_unroll, hard_sigmoid, masked_backwards, masked_gru)
}


# ---------------------------------------------------------------- export zoo


def conv_stacked_td(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.Conv1D(4, 3, padding="same", activation="relu"), L.LSTM(5, return_sequences=True),
                         L.LSTM(4, return_sequences=True), L.TimeDistributed(L.Dense(2))])


def bidir_regression(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.Bidirectional(L.LSTM(4)), L.Dense(1)])


def masked(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.Masking(0.0), L.LSTM(4, return_sequences=True), L.Bidirectional(L.LSTM(3)),
                         L.Dense(3, activation="softmax")])


def masked_seq(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.Masking(-1.0), L.Bidirectional(L.LSTM(3, return_sequences=True)),
                         L.LSTM(3, return_sequences=True), L.TimeDistributed(L.Dense(2))])


def embedding(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T,), dtype="int32"), L.Embedding(12, 4, mask_zero=True), L.LSTM(4), L.Dense(2, activation="softmax")])


def stacked_cells_clf(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.RNN(L.StackedRNNCells([L.LSTMCell(4), L.LSTMCell(3)])), L.Dense(2, activation="softmax")])


#: Models every export test converts (each TFLite conversion costs seconds: keep them few).
EXPORT_ZOO: dict[str, Callable[[Any], Any]] = {f.__name__: f for f in (conv_stacked_td, bidir_regression, masked, masked_seq, embedding, stacked_cells_clf)}

# ---------------------------------------------------------------- shared, cached builds

_ROOT = Path(tempfile.mkdtemp(prefix="lstm-deploy-tests-"))  # replaced by tests/conftest.py with the run's shared folder
atexit.register(shutil.rmtree, _ROOT, True)


def use_cache_root(root: Path) -> None:
    """Build shared fixtures under ``root`` (one folder per pytest run, seen by every xdist worker)."""
    global _ROOT
    root.mkdir(parents=True, exist_ok=True)
    _ROOT = root


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file closes
        yield


def shared_dir(key: str, build: Callable[[Path], None]) -> Path:
    """A folder that ``build(folder)`` fills once per test run, whichever xdist worker asks first.

    The others wait on a file lock and reuse the finished folder (``build`` writes into a
    temporary folder that is renamed into place only when complete). The folder lives
    under the run's own temporary root, so a new run never sees an old build.
    """
    target = _ROOT / key
    with _locked(_ROOT / f"{key}.lock"):
        if not target.is_dir():
            tmp = _ROOT / f"{key}.partial-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            build(tmp)
            tmp.rename(target)
    return target


def keras_module(flavour: str) -> Any:
    from lstm_deploy import _tf

    return _tf.tf_keras() if flavour == "tf_keras" else _tf.keras3()


def seeded(flavour: str, seed: int = 0) -> Any:
    k = keras_module(flavour)
    from lstm_deploy import _tf

    _tf.tf().random.set_seed(seed)
    np.random.seed(seed)
    if flavour == "keras3":
        k.utils.set_random_seed(seed)
    return k


def separable_data(n: int = 240, seed: int = 0, features: int = F) -> dict[str, np.ndarray]:
    """A learnable 3-class task: the class decides which feature is shifted up by 1.5."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    x = rng.normal(0, 0.5, size=(n, T, features)).astype(np.float32)
    x[np.arange(n), :, y] += 1.5
    cut = n * 3 // 4
    return {"x_train": x[:cut], "y_train": y[:cut], "x_test": x[cut:], "y_test": y[cut:]}


@functools.cache
def trained_classifier() -> tuple[Any, Path]:
    """A small trained tf_keras LSTM classifier (test accuracy 1.0) and its data file, trained once per run.

    32 features and LSTM(40): TFLite's dynamic-range quantization leaves a fused LSTM in
    float unless every per-gate weight matrix has >= 1024 elements (40 x 32, 40 x 40).
    """

    def build(out: Path) -> None:
        k = seeded("tf_keras")
        L = k.layers
        model = k.Sequential([k.Input((T, CLF_F)), L.LSTM(40), L.Dense(3, activation="softmax")])
        data = separable_data(features=CLF_F)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(data["x_train"], data["y_train"], epochs=15, batch_size=32, verbose=0)
        model.save(out / "model.keras")
        np.savez(out / "trained.npz", **data)

    folder = shared_dir("trained_classifier", build)
    return keras_module("tf_keras").models.load_model(folder / "model.keras", compile=False), folder / "trained.npz"


def _export_reference(kind: str, out: Path) -> None:
    """Write the model (``model.keras``), the artifacts and the pickled ``ExportResult`` list of ``kind``."""
    from lstm_deploy.export import ExportConfig, export_model

    if kind in ("stacked", "masked"):  # plain fp32 both formats, batch 1
        k = seeded("tf_keras")
        L = k.layers
        if kind == "stacked":
            model = k.Sequential([k.Input((T, F)), L.LSTM(5, return_sequences=True), L.LSTM(4), L.Dense(3, activation="softmax")])
        else:
            model = masked(k)
        results = export_model(model, out, name=kind)
    elif kind == "stacked_b4":  # same model, fixed batch 4
        model = exported("stacked")[0]
        results = export_model(model, out, ExportConfig(formats=("tflite",), batch_size=4), name="stacked")
    elif kind == "stacked_stream":  # same model, single-step artifacts
        model = exported("stacked")[0]
        results = export_model(model, out, ExportConfig(formats=("tflite",), streaming=True), name="stacked")
    elif kind == "quant":  # every mode on the trained classifier, judged on its test accuracy
        model, data = trained_classifier()
        tfl = export_model(model, out, ExportConfig(formats=("tflite",), quantize=("fp32", "float16", "dynamic", "int8")), data=data, name="clf")
        onx = export_model(model, out, ExportConfig(formats=("onnx",), quantize=("fp32", "dynamic")), data=data, name="clf")
        results = tfl + onx
    else:
        raise KeyError(kind)
    model.save(out / "model.keras")
    (out / "results.pkl").write_bytes(pickle.dumps([replace(r, artifact=r.artifact.name, manifest=r.manifest.name) for r in results]))


@functools.cache
def exported(kind: str) -> tuple[Any, list[Any], Path]:
    """Export a few reference configurations once per run: ``(model, results, out_dir)``.

    Kinds: ``stacked`` and ``masked`` (fp32, both formats), ``stacked_b4`` (TFLite, batch 4),
    ``stacked_stream`` (streaming TFLite) and ``quant`` (every mode of the trained classifier).
    Treat the files as read-only: other test processes use them too.
    """
    out = shared_dir(f"exported-{kind}", functools.partial(_export_reference, kind))
    model = keras_module("tf_keras").models.load_model(out / "model.keras", compile=False)
    results = [replace(r, artifact=out / r.artifact, manifest=out / r.manifest) for r in pickle.loads((out / "results.pkl").read_bytes())]
    return model, results, out
