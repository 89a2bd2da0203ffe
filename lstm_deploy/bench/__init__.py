"""Benchmark artifacts on every runtime the same way, and report the trade-offs.

Public API (stable; the recipe pipeline calls it):

- :func:`benchmark` ``(inputs, dataset, config=BenchConfig(), *, progress=False) -> BenchReport``
- :func:`write_report` ``(report, out_dir) -> dict[str, Path]``
- :class:`BenchConfig`, :class:`BenchReport`, :func:`runtime_names`, :func:`get_runtime`

Example:
    >>> from lstm_deploy.bench import BenchConfig, benchmark, write_report
    >>> report = benchmark(["exported/"], "data.npz", BenchConfig(batch_sizes=(1, 32)))  # doctest: +SKIP
    >>> write_report(report, "bench_out")["md"]                                          # doctest: +SKIP
    PosixPath('bench_out/report.md')
"""

from ..report.bench import SCHEMA, SCHEMA_VERSION, BenchReport
from ..report.write import write_report
from .api import benchmark
from .config import BenchConfig
from .registry import ArtifactRuntime, Runtime, RuntimeUnavailable, expand_runtimes, get_runtime, register, runtime_names

__all__ = [
    "ArtifactRuntime", "BenchConfig", "BenchReport", "Runtime", "RuntimeUnavailable", "SCHEMA", "SCHEMA_VERSION",
    "benchmark", "expand_runtimes", "get_runtime", "register", "runtime_names", "write_report",
]
