"""The ARM64 section of the benchmark report (``benchmark --arch arm64``): one table per emulated CPU model.

Emulated seconds get their own column name and never share a table with host milliseconds.

Example:
    >>> arm64_markdown(None)
    []
"""

from __future__ import annotations

from typing import Any


def _f(value: Any, fmt: str = ".3g") -> str:
    return "-" if value is None else format(value, fmt)


def _yes(value: Any) -> str:
    return "-" if value is None else ("yes" if value else "no")


def arm64_markdown(section: dict[str, Any] | None) -> list[str]:
    """Markdown lines of ``report.arm64`` (empty when the run had no ``--arch arm64``)."""
    if not section:
        return []
    env = section.get("env") or {}
    wheels = env.get("wheels") or {}
    lines = ["## ARM64, emulated (qemu user mode)", "",
             f"> {section.get('note')}", "",
             f"qemu-aarch64 {env.get('qemu')}, CPython {env.get('python')} aarch64, ai-edge-litert {wheels.get('ai-edge-litert')}, "
             f"onnxruntime {wheels.get('onnxruntime')}, numpy {wheels.get('numpy')}; {section.get('samples')} evaluation samples, "
             f"{section.get('threads')} thread, the same inputs and batches as the x86 reference run."]
    if section.get("perturbed"):
        lines += ["", "**The emulated outputs were perturbed on purpose (LSTM_DEPLOY_TEST_ARM64_PERTURB, a test-only switch).**"]
    for cpu, features in (section.get("cpus") or {}).items():
        rows = [r for r in section.get("rows", []) if r["cpu"] == cpu]
        wall = (section.get("wall_s") or {}).get(cpu)
        lines += ["", f"### {cpu} (features: {' '.join(features) or 'none reported'}; emulated process {_f(wall, '.0f')} s)", "",
                  "| artifact | quant | runtime | accuracy / RMSE | agreement with Keras | max abs diff vs x86 | argmax agreement vs x86 | "
                  "bit-exact vs x86 | emulated s (not phone latency) |", "|---|---|---|---:|---:|---:|---:|:-:|---:|"]
        for r in rows:
            if r.get("status") != "ok":
                lines.append(f"| {r['artifact']} | {r.get('quantization') or '-'} | {r['runtime']} | {r['status']}: {str(r.get('reason')).replace('|', '/')} |||||| ")
                continue
            metric = _f(r.get("accuracy"), ".4f") if r.get("accuracy") is not None else _f(r.get("rmse"), ".4g")
            lines.append(f"| {r['artifact']} | {r.get('quantization') or '-'} | {r['runtime']} | {metric} | {_f(r.get('agreement'), '.4f')} | "
                         f"{_f(r.get('x86_max_abs_diff'), '.3g')} | {_f(r.get('x86_agreement'), '.4f')} | {_yes(r.get('x86_bit_exact'))} | "
                         f"{_f(r.get('emulated_s'), '.1f')} |")
    skipped = [r for r in section.get("rows", []) if r["cpu"] not in (section.get("cpus") or {})]
    for r in skipped:
        lines.append(f"- {r['artifact']} on {r['cpu']}: {r['status']}: {r.get('reason')}")
    return lines + [""]
