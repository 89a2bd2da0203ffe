"""``quantize_aware_train``: annotate, calibrate, fine-tune, strip, report.

Example:
    >>> from lstm_deploy.qat import QatConfig, quantize_aware_train
    >>> res = quantize_aware_train(model, load_data("d.npz"), QatConfig(epochs=3))   # doctest: +SKIP
    >>> res.model          # same flavour as ``model``, plain LSTM layers, on-grid weights  # doctest: +SKIP
    >>> res.report.modes[0].ptq_metric, res.report.modes[0].qat_metric                        # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ... import _tf
from ...load.flavours import canonicalize, flavour_of, to_flavour, to_tf_keras
from ...load.dataset import Dataset
from ..distribute import training_strategy
from ...errors import DataError, InputError, StageError
from .build import activation_ranges, annotate, calibrate, logit_twin, strip
from .config import QatConfig, scheme_for
from .metrics import higher_is_better, loss_for, metric_name, predict, score
from .report import QatReport, compare_modes, sparsity, zeros_kept
from .runtimes import MODES


@dataclass
class QatResult:
    """The QAT model (caller's flavour), its tf_keras twin (for export), and the report."""

    model: Any
    tf_keras_model: Any
    report: QatReport


def _to_tf_keras(model: Any) -> Any:
    if flavour_of(model) == "keras3":
        return to_tf_keras(model)
    return canonicalize(model)[0]


def _check_data(model: Any, dataset: Dataset) -> None:
    want = tuple(model.input_shape[1:])
    got = dataset.x_train.shape[1:]
    if len(want) != len(got) or any(w is not None and w != g for w, g in zip(want, got)):
        raise DataError(f"{dataset.source}: x_train has sample shape {got}; the model expects {want}")


def _calibration_set(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(x) <= n:
        return x
    return x[np.sort(np.random.default_rng(seed).choice(len(x), n, replace=False))]


def quantize_aware_train(
    model: Any, dataset: Dataset, config: QatConfig | None = None, compare: Sequence[str] | None = None
) -> QatResult:
    """Quantization-aware fine-tune of an LSTM model for ``config.target``.

    The model is cloned (never modified), LSTMs are trained through fake-quantized
    stand-ins, and the result is stripped back to the original architecture with weights
    on the target's int8 grid, so it exports to fused kernels. The epoch with the best
    validation metric *under simulated quantization* is kept (epoch 0 = no fine-tune).

    Args:
        model: a Keras 3 or tf_keras model with LSTM / Bidirectional(LSTM) / Dense /
            Conv1D / Embedding layers.
        dataset: training data (validated with :func:`lstm_deploy.data.load_data`).
        config: the :class:`QatConfig` (default: full-int8 TFLite, 5 epochs).
        compare: modes (``tflite-int8``, ``tflite-dynamic``, ``onnx-dynamic``) to convert
            and score side by side, post-training quantization vs QAT; default: the target.

    Raises:
        UnsupportedLayerError: a layer QAT cannot handle (named in the message).
        DataError: data that does not fit the model.
        StageError: the fine-tune produced non-finite weights.
    """
    tf = _tf.tf()
    tfk = _tf.tf_keras()
    config = config or QatConfig()
    compare = (config.target,) if compare is None else tuple(compare)
    for mode in compare:
        if mode not in MODES[1:]:
            raise InputError(f"compare: expected modes from {', '.join(MODES[1:])}, got {mode!r}")
    flavour = flavour_of(model)
    base = _to_tf_keras(model)
    _check_data(base, dataset)
    scheme = scheme_for(config)
    twin = logit_twin(base) if config.distill else None
    teacher_model = twin if twin is not None else base
    strategy = training_strategy()  # Mirrored / MultiWorker when GPUs or TF_CONFIG say so
    with strategy.scope():
        annotated = annotate(teacher_model, scheme, config.preserve_sparsity)
    annotated.base = base  # strip back to the caller's architecture (with its output activation)
    x_cal = _calibration_set(dataset.x_train, config.calibration_samples, config.seed)
    calibrate(annotated, x_cal)

    x_tr, y_tr, x_val, y_val = dataset.train_val_split(config.val_fraction, config.seed) if config.val_fraction > 0 else (
        dataset.x_train, dataset.y_train, dataset.x_val if dataset.has_val else dataset.x_train,
        dataset.y_val if dataset.has_val else dataset.y_train)
    task = dataset.task
    better = (lambda a, b: a > b) if higher_is_better(task) else (lambda a, b: a < b)
    teacher_val = predict(teacher_model, x_val)

    def evaluate() -> tuple[float, float]:
        out = predict(annotated.model, x_val)
        return score(out, y_val, task, logits=twin is not None), float(np.abs(out - teacher_val).mean())

    def improves(m: float, gap: float, best_m: float, best_gap: float) -> bool:
        # the labelled metric first; on a tie, closer to the float model
        return better(m, best_m) or (m == best_m and gap < best_gap)

    m0, gap0 = evaluate()
    history = [{"epoch": 0, "val_metric": round(m0, 4), "val_gap_to_float": round(gap0, 6)}]
    best, best_gap, best_epoch, best_weights = m0, gap0, 0, annotated.model.get_weights()
    if config.epochs > 0:
        tf.random.set_seed(config.seed)
        if config.distill:
            # match the float model's outputs (logits when the head is softmax/sigmoid)
            targets, loss = predict(teacher_model, x_tr), tfk.losses.MeanSquaredError()
        else:
            targets, loss = y_tr, loss_for(base, dataset)
        with strategy.scope():
            annotated.model.compile(optimizer=tfk.optimizers.Adam(config.learning_rate), loss=loss)
        for epoch in range(1, config.epochs + 1):
            fit = annotated.model.fit(x_tr, targets, batch_size=config.batch_size, epochs=1, verbose=0, shuffle=True)
            m, gap = evaluate()
            history.append({"epoch": epoch, "loss": round(float(fit.history["loss"][-1]), 6), "val_metric": round(m, 4),
                            "val_gap_to_float": round(gap, 6)})
            if improves(m, gap, best, best_gap):
                best, best_gap, best_epoch, best_weights = m, gap, epoch, annotated.model.get_weights()
        annotated.model.set_weights(best_weights)

    plain = strip(annotated)
    if not all(np.isfinite(w).all() for w in plain.get_weights()):
        raise StageError("QAT fine-tune produced NaN/inf weights; lower --learning-rate or check the data")
    fq_metric = score(predict(annotated.model, dataset.x_test), dataset.y_test, task, logits=twin is not None)
    report = QatReport(
        target=config.target, per_channel=config.per_channel, task=task, metric=metric_name(task),
        float_metric=round(score(predict(base, dataset.x_test), dataset.y_test, task), 4),
        fake_quant_metric=round(fq_metric, 4),
        qat_metric=round(score(predict(plain, dataset.x_test), dataset.y_test, task), 4),
        epochs_run=config.epochs, best_epoch=best_epoch, history=history,
        sparsity_before=round(sparsity(base), 6), sparsity_after=round(sparsity(plain), 6),
        pruned_zeros_kept=zeros_kept(base, plain),
        activation_ranges=activation_ranges(annotated),
    )
    report.modes = compare_modes(base, plain, dataset, compare, x_cal)
    out = to_flavour(plain, flavour) if flavour != "tf_keras" else plain
    return QatResult(model=out, tf_keras_model=plain, report=report)
