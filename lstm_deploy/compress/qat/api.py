"""``quantize_aware_train``: annotate, calibrate, fine-tune, strip, report.

Example:
    >>> from lstm_deploy.compress.qat import QatConfig, quantize_aware_train
    >>> res = quantize_aware_train(model, load_data("d.npz"), QatConfig(epochs=3))   # doctest: +SKIP
    >>> res.model          # same flavour as ``model``, plain LSTM layers, on-grid weights  # doctest: +SKIP
    >>> res.report.modes[0].ptq_metric, res.report.modes[0].qat_metric                        # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import _tf, metrics
from ...errors import DataError, StageError
from ...export.convert import calibration_set
from ...load.dataset import Dataset
from ...load.flavours import canonicalize, flavour_of, to_flavour, to_tf_keras
from .. import fit
from ..distribute import training_strategy
from .build import activation_ranges, annotate, calibrate, logit_twin, strip
from .config import QatConfig, scheme_for
from .report import QatReport, compare_modes, sparsity, zeros_kept


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


def _selection_split(dataset: Dataset, config: QatConfig) -> fit.Split:
    """Train on the first part, select the epoch on the held-out part (the training set itself when ``val_fraction`` is 0)."""
    if config.val_fraction > 0:
        return fit.split(dataset, config.val_fraction, config.seed)
    x_val, y_val = (dataset.x_val, dataset.y_val) if dataset.has_val else (dataset.x_train, dataset.y_train)
    return fit.Split(dataset.x_train, dataset.y_train, x_val, y_val)  # type: ignore[arg-type]


def _finetune(annotated: Any, teacher: Any, base: Any, dataset: Dataset, data: fit.Split, config: QatConfig, logits: bool,
              strategy: Any) -> tuple[int, list[dict[str, float]]]:
    """Fine-tune the annotated model epoch by epoch; keep the epoch with the best validation metric under simulated quantization."""
    tf, tfk = _tf.tf(), _tf.tf_keras()
    task = dataset.task
    teacher_val = fit.predict(teacher, data.x_val)

    def evaluate() -> tuple[float, float]:
        out = fit.predict(annotated.model, data.x_val)
        return metrics.score(data.y_val, out, task, logits=logits), float(np.abs(out - teacher_val).mean())

    def improves(m: float, gap: float, best_m: float, best_gap: float) -> bool:
        # the labelled metric first; on a tie, closer to the float model
        return metrics.better(m, best_m, task) or (m == best_m and gap < best_gap)

    m0, gap0 = evaluate()
    history = [{"epoch": 0, "val_metric": round(m0, 6), "val_gap_to_float": round(gap0, 6)}]
    best, best_gap, best_epoch, best_weights = m0, gap0, 0, annotated.model.get_weights()
    if config.epochs == 0:
        return 0, history
    tf.random.set_seed(config.seed)
    if config.distill:  # match the float model's outputs (logits when the head is softmax/sigmoid)
        targets, loss = fit.predict(teacher, data.x_train), tfk.losses.MeanSquaredError()
    else:
        targets, loss = data.y_train, fit.loss_for(fit.predict(base, data.x_train[:64]), data.y_train, task)
    with strategy.scope():
        annotated.model.compile(optimizer=tfk.optimizers.Adam(config.learning_rate), loss=loss)
    for epoch in range(1, config.epochs + 1):
        trained = annotated.model.fit(data.x_train, targets, batch_size=config.batch_size, epochs=1, verbose=0, shuffle=True)
        m, gap = evaluate()
        history.append({"epoch": epoch, "loss": round(float(trained.history["loss"][-1]), 6), "val_metric": round(m, 6),
                        "val_gap_to_float": round(gap, 6)})
        if improves(m, gap, best, best_gap):
            best, best_gap, best_epoch, best_weights = m, gap, epoch, annotated.model.get_weights()
    annotated.model.set_weights(best_weights)
    return best_epoch, history


def quantize_aware_train(model: Any, dataset: Dataset, config: QatConfig | None = None) -> QatResult:
    """Quantization-aware fine-tune of an LSTM model for ``config.target``.

    The model is cloned (never modified), LSTMs are trained through fake-quantized
    stand-ins, and the result is stripped back to the original architecture with weights
    on the target's int8 grid, so it exports to fused kernels. The epoch with the best
    validation metric *under simulated quantization* is kept (epoch 0 = no fine-tune).

    Args:
        model: a Keras 3 or tf_keras model with LSTM / Bidirectional(LSTM) / Dense /
            Conv1D / Embedding layers.
        dataset: training data (validated with :func:`lstm_deploy.load.dataset.load_data`).
        config: the :class:`QatConfig` (default: full-int8 TFLite, 5 epochs); its ``compare``
            lists the modes converted and scored side by side (post-training vs QAT).

    Raises:
        UnsupportedLayerError: a layer QAT cannot handle (named in the message).
        DataError: data that does not fit the model.
        StageError: the fine-tune produced non-finite weights.
    """
    config = config or QatConfig()
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
    x_cal = calibration_set(dataset.x_train, config.calibration_samples, config.seed)
    calibrate(annotated, x_cal)

    data = _selection_split(dataset, config)
    logits = twin is not None
    best_epoch, history = _finetune(annotated, teacher_model, base, dataset, data, config, logits, strategy)

    plain = strip(annotated)
    if not all(np.isfinite(w).all() for w in plain.get_weights()):
        raise StageError("QAT fine-tune produced NaN/inf weights; lower --learning-rate or check the data")
    x_test, y_test, task = dataset.x_test, dataset.y_test, dataset.task
    report = QatReport(
        target=config.target, per_channel=config.per_channel, task=task, metric=metrics.primary_metric(task),
        float_metric=round(metrics.score(y_test, fit.predict(base, x_test), task), 6),
        fake_quant_metric=round(metrics.score(y_test, fit.predict(annotated.model, x_test), task, logits=logits), 6),
        qat_metric=round(metrics.score(y_test, fit.predict(plain, x_test), task), 6),
        epochs_run=config.epochs, best_epoch=best_epoch, history=history,
        sparsity_before=round(sparsity(base), 6), sparsity_after=round(sparsity(plain), 6),
        pruned_zeros_kept=zeros_kept(base, plain),
        activation_ranges=activation_ranges(annotated),
    )
    report.modes = compare_modes(base, plain, dataset, config.compared_modes(), x_cal)
    out = to_flavour(plain, flavour) if flavour != "tf_keras" else plain
    return QatResult(model=out, tf_keras_model=plain, report=report)
