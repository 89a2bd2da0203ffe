"""``export --verify-arch arm64``: replay every written artifact's parity check on emulated ARM64 CPUs.

Each artifact that passed on x86 runs on the same parity inputs through the TF-free runtime
under the emulated aarch64 Python (one process per CPU model, one thread, the same batches as
on x86; :func:`lstm_deploy.arm64.crosscheck.cross_check`). Its ARM64 outputs must pass:

* the **same** :func:`~.parity.compare` budget as on x86 -- fp32 by relative L2 error against
  the Keras model, quantized modes by the metric drop when the data has labels;
* quantized classifiers also **by agreement**: argmax agreement with the Keras model on ARM64
  may fall at most the metric budget (``--max-metric-drop``, default one point) below x86's,
  labels or not.

An artifact that fails on any CPU model is removed with its manifest (it was written by the
x86 check a moment before) and reported like any parity failure; one that passes gets a
``verified_arch`` entry in its manifest: CPU models, qemu and runtime versions, the numbers.

Example:
    >>> cfg = ExportConfig(quantize=("int8",), verify_arch=("arm64",), verify_cpus=("cortex-a76",))   # doctest: +SKIP
    >>> export_model("m.keras", "out", cfg, data="d.npz")[0].arch["arm64"]["passed"]                  # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..atomic import atomic_write_text
from . import manifest as manifest_mod
from .parity import DEFAULT_ACCURACY_DROP, ParityReport, compare

if TYPE_CHECKING:
    from ..arm64.crosscheck import ArtifactCheck
    from .config import ExportConfig


def prepare(cfg: "ExportConfig", say: Callable[[str], None] | None = None) -> Any:
    """The ARM64 environment (set up now if missing) with ``cfg.verify_cpus`` checked: before any conversion."""
    from ..arm64 import setup_env
    from ..arm64.env import check_cpus

    env = setup_env(progress=say is not None, say=say)
    check_cpus(env, cfg.verify_cpus, "--verify-cpu")
    return env


def verify_arch(env: Any, results: list[Any], checks: Any, cfg: "ExportConfig",
                say: Callable[[str], None] | None = None) -> list[Any]:
    """``results`` (export results) with every written artifact checked on ARM64; failures removed from disk and marked failed.

    ``checks`` is export's parity inputs (``x``, ``y``, ``where``, ``task``, ``reference``); typed loosely so
    this module stays below ``api`` (which calls it).
    """
    from ..arm64.crosscheck import cross_check

    written = [r for r in results if r.passed and r.artifact is not None]
    if not written:
        return results
    cpu_checks = cross_check(env, [r.artifact for r in written], checks.x, cfg.verify_cpus, threads=1, say=say)  # type: ignore[misc]
    out = []
    for result in results:
        if result not in written:
            out.append(result)
            continue
        per_cpu: dict[str, Any] = {}
        failed: tuple[str, ParityReport] | None = None
        for check in cpu_checks:
            report, entry = _judge(result, check.artifacts[str(result.artifact)], checks, cfg)
            per_cpu[check.cpu] = entry | {"features": check.features}
            if not report.passed and failed is None:
                failed = (check.cpu, report)
        section = {"arch": "arm64", "cpus": per_cpu, "qemu": env.describe()["qemu"], "threads": 1,
                   "runtimes": {k: env.describe()["wheels"].get(k) for k in ("ai-edge-litert", "onnxruntime", "numpy")},
                   "perturbed": any(c.perturbed for c in cpu_checks), "passed": failed is None}
        if failed is not None:
            for path in (result.artifact, result.manifest):
                if path is not None:
                    path.unlink(missing_ok=True)
            cpu, report = failed
            out.append(replace(result, artifact=None, manifest=None, arch={"arm64": section},
                               parity=replace(report, passed=False, message=f"on emulated ARM64 {cpu}: {report.message}")))
            continue
        _record(result, section)
        out.append(replace(result, arch={"arm64": section}))
    return out


def _judge(result: Any, one: "ArtifactCheck", checks: Any, cfg: "ExportConfig") -> tuple[ParityReport, dict[str, Any]]:
    """The x86 parity check replayed on the ARM64 outputs (plus agreement for quantized classifiers)."""
    if one.outputs is None:
        report = replace(result.parity, passed=False, message=f"the artifact did not run: {one.error}")
        return report, {"passed": False, "error": one.error}
    report = compare(checks.reference, one.outputs, quantization=result.quantization, inputs=checks.where, labels=checks.y, task=checks.task,
                     max_metric_drop=cfg.max_metric_drop, fp32_tolerance=cfg.fp32_tolerance)
    x86_agree = result.parity.argmax_agreement
    if report.passed and result.quantization != "fp32" and x86_agree is not None and report.argmax_agreement is not None \
            and checks.task in (None, "classification"):
        allowed = cfg.max_metric_drop if cfg.max_metric_drop is not None else DEFAULT_ACCURACY_DROP
        if report.argmax_agreement < x86_agree - allowed - 1e-12:
            report = replace(report, passed=False, message=(f"argmax agreement with the model {report.argmax_agreement:.3f} on ARM64 vs "
                                                            f"{x86_agree:.3f} on x86 (allowed drop {allowed:g})"))
    entry = {"passed": report.passed, "message": report.message, "rel_error": report.rel_error, "argmax_agreement": report.argmax_agreement,
             "metric": report.metric, "metric_artifact": report.metric_artifact, "x86_max_abs_diff": one.max_abs_diff,
             "x86_bit_exact": one.bit_exact, "emulated_s": one.emulated_s}
    return report, entry


def _record(result: Any, section: dict[str, Any]) -> None:
    """Add ``verified_arch`` to the artifact's manifest (rewritten atomically)."""
    import json

    assert result.manifest is not None
    manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
    manifest.setdefault("verified_arch", {})["arm64"] = section
    atomic_write_text(result.manifest, manifest_mod.dumps(manifest))
