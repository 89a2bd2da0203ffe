"""Where trials run: this process (the default, no cluster needed) or a Ray cluster.

Both executors take trials from the study loop (:mod:`lstm_deploy.optimize.search`) and hand
back :class:`~lstm_deploy.optimize.trial.TrialOutcome` objects; Optuna stays in the driver
(ask/tell), so the sampler sees every result wherever it was computed. With Ray, as many
trials run at once as the cluster has CPUs (one CPU each); the search's inputs are put in
the object store once, and each trial's files come back as bytes, so workers need no shared
file system -- only ``lstm-deploy`` installed.

Example:
    >>> executor = LocalExecutor(setup)                     # doctest: +SKIP
    >>> executor.submit(0, candidate); executor.wait()[0].status   # doctest: +SKIP
    'ok'
"""

from __future__ import annotations

from typing import Any, Protocol

from ..errors import InputError
from .space import Candidate
from .trial import TrialOutcome, TrialSetup, run_trial


class Executor(Protocol):
    """Runs trials; ``slots`` of them at once."""

    slots: int
    where: str

    def submit(self, number: int, candidate: Candidate, deadline: float | None = None) -> None: ...

    def wait(self) -> list[TrialOutcome]: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...


class LocalExecutor:
    """One trial at a time in this process (trials share its CPUs with the latency measurement)."""

    slots = 1
    where = "this process"

    def __init__(self, setup: TrialSetup) -> None:
        self.setup = setup
        self._queue: list[tuple[int, Candidate, float | None]] = []

    def submit(self, number: int, candidate: Candidate, deadline: float | None = None) -> None:
        self._queue.append((number, candidate, deadline))

    def wait(self) -> list[TrialOutcome]:
        number, candidate, deadline = self._queue.pop(0)
        return [run_trial(self.setup, number, candidate, deadline)]

    def cancel(self) -> None:
        self._queue.clear()

    def close(self) -> None:
        self._queue.clear()


def _ray_trial(setup: TrialSetup, number: int, candidate: Candidate, deadline: float | None) -> TrialOutcome:
    """A trial inside a Ray worker process (quiet TensorFlow first, as the CLI does)."""
    from .. import _tf

    _tf.quiet()
    return run_trial(setup, number, candidate, deadline)


class RayExecutor:
    """Trials as Ray tasks (``num_cpus=1``) on the cluster at ``address`` (``auto``, ``HOST:PORT``, ``ray://...``).

    A driver that is already connected (``ray.init`` was called) is used as it is and left connected.
    """

    def __init__(self, setup: TrialSetup, address: str) -> None:
        try:
            import ray
        except ImportError:
            raise InputError("--ray-address: Ray is not installed; install it with: pip install 'lstm-deploy[ray]'") from None
        self._ray = ray
        self._owned = not ray.is_initialized()
        if self._owned:
            try:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise InputError(f"--ray-address {address}: cannot connect to a Ray cluster ({str(exc).splitlines()[0]}); "
                                 "start one with 'ray start --head' or pass its address") from None
        self.slots = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.where = f"Ray cluster ({self.slots} CPUs)"
        self._setup = ray.put(setup)
        self._task = ray.remote(num_cpus=1, max_retries=0)(_ray_trial)
        self._running: dict[Any, int] = {}

    def submit(self, number: int, candidate: Candidate, deadline: float | None = None) -> None:
        self._running[self._task.remote(self._setup, number, candidate, deadline)] = number

    def wait(self) -> list[TrialOutcome]:
        done, _ = self._ray.wait(list(self._running), num_returns=1)
        outcomes = []
        for ref in done:
            number = self._running.pop(ref)
            try:
                outcomes.append(self._ray.get(ref))
            except self._ray.exceptions.RayError as exc:  # a worker died (out of memory, node lost): that trial failed
                cause = getattr(exc, "cause", None)  # a task's own exception, when it raised one
                lines = [ln for ln in str(cause if cause is not None else exc).strip().splitlines() if ln.strip()]
                what = type(cause if cause is not None else exc).__name__
                outcomes.append(TrialOutcome(number, {}, status="failed", reason=f"Ray: {what}: {(lines[-1] if lines else '')[:300]}"))
        return outcomes

    def cancel(self) -> None:
        for ref in self._running:
            self._ray.cancel(ref, force=True)
        self._running.clear()

    def close(self) -> None:
        if self._owned:
            self._ray.shutdown()


def make_executor(setup: TrialSetup, ray_address: str | None) -> Executor:
    """The Ray executor when an address is given, else the local one."""
    return RayExecutor(setup, ray_address) if ray_address else LocalExecutor(setup)
