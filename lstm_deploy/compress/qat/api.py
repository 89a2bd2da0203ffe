"""``quantize_aware_train``: annotate, calibrate, fine-tune, strip, report.

Example:
    >>> from lstm_deploy.compress.qat import QatConfig, quantize_aware_train
    >>> res = quantize_aware_train(model, load_data("d.npz"), QatConfig())           # doctest: +SKIP
    >>> res.model          # same flavour as ``model``, plain LSTM layers, on-grid weights  # doctest: +SKIP
    >>> res.report.modes[0].ptq_metric, res.report.modes[0].qat_metric                        # doctest: +SKIP
    >>> res.report.simulation_agreement      # share of x_test where the simulation predicts what the artifact does  # doctest: +SKIP
    >>> res.report.handed_over               # "qat", or "post-training": res.model is then the float model  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import _tf, metrics
from ...errors import StageError
from ...export.convert import calibration_set
from ...load.dataset import Dataset, X, check_fits, rows, take
from ...load.flavours import canonicalize, flavour_of, to_flavour, to_tf_keras
from .. import fit, holdout
from ..distribute import training_strategy
from ..progress import Progress
from .build import activation_ranges, annotate, calibrate, logit_twin, strip
from .config import QatConfig, scheme_for
from .registry import FULL_INT, int8_obstacle
from .choice import choose_artifact, held_out_rows
from .report import QatReport, compare_modes, convert_pair, sparsity, zeros_kept


@dataclass
class QatResult:
    """The model handed over (caller's flavour), its tf_keras twin (for export), and the report.

    ``model`` is the QAT model, or the caller's own float model when its post-training artifact
    scored higher on held-out rows (``report.handed_over == "post-training"``; see ``QatConfig.keep_better``).
    """

    model: Any
    tf_keras_model: Any
    report: QatReport


def _to_tf_keras(model: Any) -> Any:
    if flavour_of(model) == "keras3":
        return to_tf_keras(model)
    return canonicalize(model)[0]


def _selection_split(dataset: Dataset, config: QatConfig) -> fit.Split:
    """Train on all of train, select the check on rows the model never trained on (:mod:`lstm_deploy.compress.holdout`)."""
    return fit.Split(*holdout.choose(dataset, config.seed).fit_arrays())


def simulate_head(out: np.ndarray, head: str | None, int8_output: bool = True) -> np.ndarray:
    """What the integer runtime's output layer makes of the simulated logits ``out``.

    Full-int8 TFLite ends a softmax/sigmoid head with an int8 output of scale 1/256: close
    probabilities become equal there, and the argmax of equal values is the first class. The
    simulation applies the same rounding so that its predictions are the artifact's.
    ``head`` is ``"softmax"``, ``"sigmoid"`` or ``None`` (outputs used as they are).
    ``int8_output=False`` (the dynamic targets: float activations) applies the head without rounding.
    """
    if head is None:
        return out
    if head == "sigmoid":
        probs = 1.0 / (1.0 + np.exp(-out.astype(np.float64)))
    else:
        e = np.exp(out - out.max(axis=-1, keepdims=True))
        probs = e / e.sum(axis=-1, keepdims=True)
    if not int8_output:
        return probs.astype(np.float32)
    return (np.clip(np.round(probs * 256.0), 0, 255) / 256.0).astype(np.float32)


def _finetune(annotated: Any, teacher: Any, base: Any, dataset: Dataset, data: fit.Split, config: QatConfig, head: str | None,
              x_cal: X, strategy: Any, progress: Progress | None) -> fit.FitRun:
    """Fine-tune the annotated model for the step budget; keep the check with the best validation metric under simulated quantization.

    Before every check the activation ranges are recalibrated as the converter will (so the
    simulated metric is the artifact's); ties on the metric go to the check closest to the float model.
    """
    tfk = _tf.tf_keras()
    task = dataset.task
    teacher_val = fit.predict(teacher, data.x_val)
    last_gap: dict[str, float] = {}

    def score(model: Any) -> tuple[float, float]:
        if annotated.scheme.quantize_activations:
            calibrate(annotated, x_cal)
        out = fit.predict(model, data.x_val)
        gap = float(np.abs(out - teacher_val).mean())
        last_gap["quant_error"] = round(gap, 6)
        return metrics.score(data.y_val, simulate_head(out, head, annotated.scheme.quantize_activations), task), gap

    budget = config.budget(rows(data.x_train))
    if config.distill:  # match the float model's outputs (logits when the head is softmax/sigmoid)
        train_targets, loss = fit.predict(teacher, data.x_train), tfk.losses.MeanSquaredError()
    else:
        probe = fit.predict(base, take(data.x_train, slice(0, 64)))
        train_targets, loss = fit.fit_targets(dataset, data.y_train, probe)[0], fit.loss_for(probe, data.y_train, task)
    with strategy.scope():
        annotated.model.compile(optimizer=tfk.optimizers.Adam(config.learning_rate), loss=loss)
    reference = metrics.score(data.y_val, fit.predict(base, data.x_val), task)
    if not config.finetunes:  # snap only: one check of the untouched model
        run = fit.FitRun(budget=budget, reference=reference)
        m, _ = score(annotated.model)
        run.curve, run.best_metric = [{"step": 0, "val_metric": round(m, 6), **last_gap}], m
        return run
    return fit.finetune(annotated.model, data, train_targets, budget, score=score, task=task, batch_size=config.batch_size,
                        patience=config.patience, seed=config.seed, reference=reference, extras=lambda _m: dict(last_gap),
                        progress=progress, label=f"QAT {config.target}")


def _head(base: Any, twin: Any) -> str | None:
    """The activation the deployed model applies after the logits QAT trains on (``None`` without a logit twin)."""
    return base.layers[-1].get_config().get("activation") if twin is not None else None


def quantize_aware_train(model: Any, dataset: Dataset, config: QatConfig | None = None, progress: Progress | None = None) -> QatResult:
    """Quantization-aware fine-tune of an LSTM model for ``config.target``.

    The model is cloned (never modified), LSTMs are trained through fake-quantized
    stand-ins, and the result is stripped back to the original architecture with weights
    on the target's int8 grid, so it exports to fused kernels. The fine-tune runs a step
    budget (:mod:`lstm_deploy.compress.budget`); at each of its checks the activation ranges
    are recalibrated as the converter will and the validation metric *under simulated
    quantization* is measured; the best check is kept (step 0 = no fine-tune). The report
    scores the simulation and the real artifact on x_test and says how often they agree,
    and its ``verdict`` says plainly whether QAT reached float within 0.5 points and, if not,
    what to use instead. With ``config.keep_better`` (default) the target's post-training and QAT
    artifacts are scored on held-out rows (:func:`selection_rows`); when post-training scores
    higher, ``model`` is the caller's float model (``report.handed_over == "post-training"``).

    Args:
        model: a Keras 3 or tf_keras model with LSTM / Bidirectional(LSTM) / Dense /
            Conv1D / Conv2D / Embedding layers (several inputs allowed).
        dataset: training data (validated with :func:`lstm_deploy.load.dataset.load_data`).
        config: the :class:`QatConfig` (default: full-int8 TFLite, the default step budget); its
            ``compare`` lists the modes converted and scored side by side (post-training vs QAT).
        progress: receives the fine-tune's steps and checks (default: silent).

    Raises:
        UnsupportedLayerError: a layer QAT cannot handle (named in the message).
        DataError: data that does not fit the model.
        StageError: the fine-tune produced non-finite weights.

    Example:
        >>> res = quantize_aware_train(model, ds, QatConfig(compare=("tflite-int8",)))   # doctest: +SKIP
        >>> res.report.verdict                                                              # doctest: +SKIP
        'QAT tflite-int8 is within 0.5 points of float (97.57 % vs 97.57 %) ...'
    """
    config = config or QatConfig()
    flavour = flavour_of(model)
    base = _to_tf_keras(model)
    check_fits(base, dataset)
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
    head = _head(base, twin)
    run = _finetune(annotated, teacher_model, base, dataset, data, config, head, x_cal, strategy, progress)
    if scheme.quantize_activations:
        calibrate(annotated, x_cal)  # the kept weights' ranges, as export will measure them

    plain = strip(annotated)
    if not all(np.isfinite(w).all() for w in plain.get_weights()):
        raise StageError("QAT fine-tune produced NaN/inf weights; lower --learning-rate or check the data")
    x_test, y_test, task = dataset.x_test, dataset.y_test, dataset.task
    simulated = simulate_head(fit.predict(annotated.model, x_test), head, scheme.quantize_activations)
    report = QatReport(
        target=config.target, per_channel=config.per_channel, task=task, metric=metrics.primary_metric(task),
        float_metric=round(metrics.score(y_test, fit.predict(base, x_test), task), 6),
        simulated_metric=round(metrics.score(y_test, simulated, task), 6),
        qat_metric=round(metrics.score(y_test, fit.predict(plain, x_test), task), 6),
        best_step=run.best_step, finetune=run.to_dict(),
        sparsity_before=round(sparsity(base), 6), sparsity_after=round(sparsity(plain), 6),
        pruned_zeros_kept=zeros_kept(base, plain),
        activation_ranges=activation_ranges(annotated),
        warnings=[run.warning] if run.warning else [],
    )
    modes = config.compared_modes()
    obstacle = int8_obstacle(base)
    if obstacle and FULL_INT in modes:  # the target itself is refused by annotate; another compared mode is skipped
        modes = tuple(m for m in modes if m != FULL_INT)
        report.warnings.append(f"{FULL_INT} not compared: the model has no full-integer artifact ({obstacle})")
    converted = {}
    if config.keep_better and not (obstacle and config.target == FULL_INT):
        converted[config.target] = convert_pair(base, plain, config.target, x_cal, x_test)
    report.modes = compare_modes(base, plain, dataset, modes, x_cal, simulated=(config.target, simulated), converted=converted)
    report.judge()
    if converted:
        choice = choose_artifact(*converted[config.target], dataset, selection_rows(dataset, config), config.target)
        report.record_choice(choice)
        if choice.handed_over == "post-training":
            return QatResult(model=model, tf_keras_model=base, report=report)
    out = to_flavour(plain, flavour) if flavour != "tf_keras" else plain
    return QatResult(model=out, tf_keras_model=plain, report=report)


def selection_rows(dataset: Dataset, config: QatConfig) -> object:
    """Held-out rows that judge QAT against post-training quantization (the one place; see :func:`.choice.held_out_rows`)."""
    return held_out_rows(dataset, config.seed)
