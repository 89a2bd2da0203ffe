"""One module per CLI command; each exposes a Click command named ``command``.

Command modules import nothing heavy at module level (TensorFlow is imported inside the
command body), so ``lstm-deploy --help`` stays fast. Stage commands build the stage's own
config class (:mod:`lstm_deploy.config`) from the options the user gave; options left out
keep the class defaults, so a flag, a recipe key and a library argument mean one thing.
"""

from __future__ import annotations

from typing import Any, TypeVar

from ..config import StageConfig

C = TypeVar("C", bound=StageConfig)


def build_config(cls: type[C], **options: Any) -> C:
    """``cls`` from the options that were given (``None`` = left out: the class default applies)."""
    return cls(**{k: v for k, v in options.items() if v is not None})


def default(cls: type[StageConfig], field: str) -> Any:
    """A config field's default, for a Click option's ``default`` (so ``--help`` shows the one true default)."""
    value = cls.model_fields[field].default
    return ",".join(str(v) for v in value) if isinstance(value, tuple) else value


def model_outputs(model_path: Any, data_path: Any, output: Any, report_path: Any | None) -> Any:
    """The checked outputs of a command that writes a model (``-o``) and optionally a JSON report (``--report``).

    Paths are checked before any work (not an input, a model suffix, distinct); the returned
    :class:`lstm_deploy.paths.Outputs` refuses, when entered, a file lstm-deploy did not write.
    """
    from ..load.modelio import MODEL_SUFFIXES
    from ..paths import Outputs, check_distinct, check_output_file

    inputs = {"model": model_path, "data": data_path}
    check_output_file(output, "-o", inputs=inputs, suffixes=MODEL_SUFFIXES)  # before minutes of work
    if report_path is not None:
        check_output_file(report_path, "--report", inputs=inputs)
        check_distinct(o=output, report=report_path)
    outputs = Outputs(inputs).file(output, "-o")
    if report_path is not None:
        outputs.file(report_path, "--report")
    return outputs


def load_for_fine_tune(ctx: Any, model_path: Any, data_path: Any, quiet: bool) -> tuple[Any, Any, Any]:
    """``(loaded model, dataset checked against it, progress display)`` of ``prune`` and ``quantize``.

    ``quiet``: no progress line (see :func:`quiet_of`); ``-v`` on the root prints every check.
    """
    from ..compress.progress import console_progress
    from ..load.dataset import load_data
    from ..load.modelio import load_model
    from ..metrics import primary_metric

    loaded = load_model(model_path)
    dataset = load_data(data_path, model_input_shape=tuple(loaded.model.inputs[0].shape[1:]),
                        model_output_shape=tuple(loaded.model.outputs[0].shape[1:]))
    verbose = (ctx.find_root().obj or {}).get("verbose", 0) >= 1
    return loaded, dataset, console_progress(primary_metric(dataset.task), quiet=quiet, verbose=verbose)


def quiet_of(ctx: Any, quiet: bool) -> bool:
    """A command's ``--quiet``, or the root ``lstm-deploy --quiet``."""
    return quiet or bool((ctx.find_root().obj or {}).get("quiet"))
