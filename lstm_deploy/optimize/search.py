"""The study loop: Optuna's constrained TPE asks, an executor runs, Optuna is told.

The study minimizes the objective (p50 latency in ms, or gzip bytes) with one constraint,
``validation drop - max_metric_drop <= 0`` (Optuna's ``Trial.set_constraint``: the TPE
sampler models feasibility and steers to candidates that keep the budget). Trials that
stop early are told as ``PRUNED``, broken configurations as ``FAIL``; each trial's record
(configuration, metrics, reason) lives in its ``outcome`` user attribute, and each step's
validation drop is reported as an intermediate value, so a study in ``--storage`` holds
everything the report needs. A resumed study skips the trials it already finished;
a trial left ``RUNNING`` by a crash or Ctrl-C is marked failed.

Identical configurations never run twice: a proposal whose :meth:`Candidate.key` was already
run (or whose artifact mode the exporter refused for the original model itself) is told the first run's result (so the sampler learns) with a ``duplicate_of`` attribute,
is not counted as a trial and leaves no outcome; after :data:`MAX_REPEATS` repeats in a row
the space is taken as exhausted and the search ends.

Example:
    >>> study = open_study(config, "lstm-deploy-optimize-1a2b")            # doctest: +SKIP
    >>> state = run_search(study, space, executor, config, Budget(time.time() + 600, 5), "classification", say, write)  # doctest: +SKIP
    >>> state.interrupted                                                   # doctest: +SKIP
    False
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .. import metrics
from ..errors import InputError
from .config import OptimizeConfig
from .executors import Executor
from .space import Candidate, SearchSpace
from .trial import TrialOutcome

Progress = Callable[[str], None]
FINISHED = ("COMPLETE", "PRUNED", "FAIL")


def objective_value(outcome: TrialOutcome | dict[str, Any], objective: str) -> float | None:
    """The number a trial is ranked by: p50 latency (ms) or gzip bytes of the artifact."""
    get = outcome.get if isinstance(outcome, dict) else lambda k: getattr(outcome, k)
    return get("latency_ms") if objective == "latency" else get("gzip_bytes")


def open_study(config: OptimizeConfig, name: str) -> Any:
    """Create (or, with ``storage``, resume) the study; the sampler is seeded constrained TPE."""
    try:
        import optuna
    except ImportError:
        raise InputError("lstm-deploy optimize needs Optuna; install it with: pip install 'lstm-deploy[optimize]'") from None

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    planned = config.trials if config.trials is not None else 30
    sampler = optuna.samplers.TPESampler(seed=config.seed, n_startup_trials=min(10, max(4, planned // 3)))
    try:
        study = optuna.create_study(storage=config.storage, study_name=name, direction="minimize", sampler=sampler, load_if_exists=True)
    except (ImportError, ValueError) as exc:
        raise InputError(f"--storage {config.storage}: cannot open the study ({str(exc).splitlines()[0]}); "
                         "expected a database URL such as sqlite:///study.db") from None
    except Exception as exc:  # SQLAlchemy raises its own errors (bad path, locked file)
        raise InputError(f"--storage {config.storage}: cannot open the study ({exc.__class__.__name__}: {str(exc).splitlines()[0]})") from None
    stale = [t.number for t in study.get_trials(deepcopy=False) if t.state.name == "RUNNING"]
    for number in stale:  # the trial in flight when a previous run stopped: lost, by design
        study.tell(number, state=optuna.trial.TrialState.FAIL)
    return study


#: Repeated proposals in a row after which the sampler is taken to have nothing new to try.
MAX_REPEATS = 25
#: Least time kept back from the budget for the final benchmark and the report, in seconds.
MIN_RESERVE_S = 60.0
WRITE_S = 20.0  # saving the winner, plots, report pages


@dataclass
class Budget:
    """The time budget as the loop spends it (``end`` in ``time.time()`` seconds; None = no budget).

    The final phase benchmarks ``final_artifacts`` artifacts; what one benchmark took inside the
    trials so far (``bench_s``) sizes the reserve, so a loaded machine keeps more time back.
    """

    end: float | None
    final_artifacts: int
    bench_s: float = 0.0

    def reserve(self) -> float:
        return max(MIN_RESERVE_S, self.final_artifacts * self.bench_s + WRITE_S)

    def deadline(self) -> float | None:
        """When trials stop: no trial starts and no trial step begins after it."""
        return None if self.end is None else self.end - self.reserve()

    def left(self) -> float | None:
        """Seconds until the deadline."""
        deadline = self.deadline()
        return None if deadline is None else deadline - time.time()


@dataclass
class SearchState:
    """How the loop ended."""

    interrupted: bool = False
    stopped_for_time: bool = False
    exhausted: bool = False
    ran: int = 0
    repeats: int = 0
    seconds: list[float] = field(default_factory=list)
    fine_tune_seconds: list[float] = field(default_factory=list)
    other_seconds: list[float] = field(default_factory=list)

    def estimate(self, fine_tunes: bool) -> float:
        """Expected seconds of the next trial: the mean of those that fine-tuned a new compression, or of the others."""
        pool = (self.fine_tune_seconds if fine_tunes else self.other_seconds) or self.seconds
        return sum(pool) / len(pool) if pool else 0.0


def _tell(study: Any, trial: Any, outcome: TrialOutcome, config: OptimizeConfig) -> None:
    from optuna.trial import TrialState

    trial.set_user_attr("outcome", outcome.summary())
    for step, record in enumerate(outcome.steps):
        if record.get("val_drop") is not None:
            trial.report(float(record["val_drop"]), step)
    if outcome.status == "ok":
        trial.set_constraint("metric_drop", float(outcome.val_drop) - config.max_metric_drop)  # type: ignore[arg-type]
        study.tell(trial, objective_value(outcome, config.objective))
    else:
        study.tell(trial, state=TrialState.PRUNED if outcome.status == "pruned" else TrialState.FAIL)


def _tell_repeat(study: Any, trial: Any, first: dict[str, Any] | None, number: int, config: OptimizeConfig) -> None:
    """Answer a repeated configuration with the first run's result, without running it."""
    from optuna.trial import TrialState

    trial.set_user_attr("duplicate_of", number)
    if first is not None and first["status"] == "ok":
        trial.set_constraint("metric_drop", float(first["val_drop"]) - config.max_metric_drop)
        study.tell(trial, objective_value(first, config.objective))
    else:
        study.tell(trial, state=TrialState.PRUNED)


def _artifact(outcome: dict[str, Any]) -> str:
    return f"{outcome['candidate']['format']}/{outcome['candidate']['quantization']}"


def _export_failed(outcome: dict[str, Any]) -> bool:
    """A plain export of the original that the exporter refused (e.g. int8 of a masked model): that mode is out for every trial."""
    return (outcome["status"] == "failed" and bool(outcome.get("candidate")) and Candidate(**outcome["candidate"]).plain
            and str(outcome.get("reason", "")).startswith("ExportError"))


def finished_outcomes(study: Any) -> list[dict[str, Any]]:
    """The recorded outcome of every finished trial, in trial order."""
    return [t.user_attrs["outcome"] for t in study.get_trials(deepcopy=False) if t.state.name in FINISHED and "outcome" in t.user_attrs]


def _line(outcome: TrialOutcome, done: int, planned: int | None, best: dict[str, Any] | None, config: OptimizeConfig, task: str,
          budget: Budget) -> str:
    name = metrics.primary_metric(task)
    head = f"trial {done}{'' if planned is None else f'/{planned}'} #{outcome.number} {_label(outcome.candidate)}: "
    if outcome.status == "ok":
        ok = "within budget" if outcome.feasible(config.max_metric_drop) else "over budget"
        body = (f"selection {name} {metrics.format_metric(name, outcome.val_metric)} (drop {metrics.format_drop(name, outcome.val_drop or 0.0)}, {ok}), "
                f"{outcome.latency_ms:.3f} ms, {(outcome.gzip_bytes or 0) / 1024:.1f} KB gzip" + (", QAT" if outcome.qat else ""))
    else:
        body = f"{outcome.status}: {outcome.reason}"
    tail = f" | best so far: {_best_text(best, config)}"
    left = budget.left()
    if left is not None:
        tail += f" | {max(0.0, left) / 60:.1f} min left for trials"
    return head + body + tail


def _label(candidate: dict[str, Any]) -> str:
    from .space import Candidate

    return Candidate(**candidate).label() if candidate else "?"


def _best_text(best: dict[str, Any] | None, config: OptimizeConfig) -> str:
    if best is None:
        return "none within budget yet"
    value = objective_value(best, config.objective)
    shown = f"{value:.3f} ms" if config.objective == "latency" else f"{(value or 0) / 1024:.1f} KB gzip"
    return f"{shown} (trial #{best['number']})"


def best_feasible(outcomes: list[dict[str, Any]], config: OptimizeConfig) -> dict[str, Any] | None:
    """The feasible outcome with the lowest objective value, or ``None``."""
    ok = [o for o in outcomes if o["status"] == "ok" and o["val_drop"] is not None and o["val_drop"] <= config.max_metric_drop + 1e-9]
    return min(ok, key=lambda o: objective_value(o, config.objective), default=None)  # type: ignore[arg-type, return-value]


def run_search(study: Any, space: SearchSpace, executor: Executor, config: OptimizeConfig, budget: Budget, task: str,
               say: Progress, on_outcome: Callable[[TrialOutcome], None]) -> SearchState:
    """Ask, run and tell until time runs out, ``config.trials`` trials are finished (when given), the space is exhausted, or Ctrl-C.

    No trial starts when the time left is less than the mean duration of the trials so far
    (the first starts whenever there is time left), and a running trial starts no further step
    after the deadline. A configuration already run (or running) is not run again. On Ctrl-C
    the trials in flight are cancelled and marked failed.
    """
    from optuna.trial import TrialState

    state = SearchState()
    outcomes = finished_outcomes(study)
    done = len(outcomes)
    if done == 0 and not study.trials:
        for params in space.starting_points(config.objective):
            study.enqueue_trial(params, skip_if_exists=True)
    seen: dict[str, tuple[int, dict[str, Any] | None]] = {}
    for o in outcomes:
        if o.get("candidate"):
            seen.setdefault(space.candidate_key(o["candidate"]), (o["number"], o))
    compressions = {Candidate(**o["candidate"]).compression_key() for o in outcomes if o.get("candidate")}
    unbuildable = {_artifact(o) for o in outcomes if _export_failed(o)}
    fresh: dict[int, bool] = {}
    running: dict[int, Any] = {}
    best = best_feasible(outcomes, config)
    in_a_row = 0
    try:
        while True:
            while len(running) < executor.slots and not state.exhausted and (config.trials is None or done + len(running) < config.trials):
                left = budget.left()
                if left is not None and left <= state.estimate(False):
                    state.stopped_for_time = True
                    break
                trial = study.ask()
                cand = space.suggest(trial)
                key = cand.key()
                new = not cand.plain and cand.compression_key() not in compressions
                if key not in seen and left is not None and new and left <= state.estimate(True):
                    trial.set_user_attr("not_started", "a new fine-tune would probably not finish before the time budget")
                    study.tell(trial, state=TrialState.FAIL)
                    state.stopped_for_time = True
                    break
                if key in seen or f"{cand.format}/{cand.quantization}" in unbuildable:
                    first = seen.get(key, (-1, None))  # an artifact the original could not be exported to: no compression changes that
                    _tell_repeat(study, trial, first[1], first[0], config)
                    state.repeats += 1
                    in_a_row += 1
                    if in_a_row >= MAX_REPEATS:
                        state.exhausted = True
                        break
                    continue
                in_a_row = 0
                seen[key] = (trial.number, None)
                fresh[trial.number] = new
                compressions.add(cand.compression_key())
                executor.submit(trial.number, cand, budget.deadline())
                running[trial.number] = trial
            if not running:
                if state.exhausted:
                    say(f"search: the sampler proposed only configurations already measured ({MAX_REPEATS} in a row): stopping")
                return state
            for outcome in executor.wait():
                trial = running.pop(outcome.number)
                outcome.candidate = outcome.candidate or space.candidate(trial.params).to_dict()
                seen[space.candidate_key(outcome.candidate)] = (outcome.number, outcome.summary())
                if _export_failed(outcome.summary()):
                    unbuildable.add(_artifact(outcome.summary()))
                on_outcome(outcome)  # files first: a trial is told only once its artifact is on disk
                _tell(study, trial, outcome, config)
                done += 1
                state.ran += 1
                state.seconds.append(outcome.seconds)
                (state.fine_tune_seconds if fresh.get(outcome.number) else state.other_seconds).append(outcome.seconds)
                if outcome.bench_seconds is not None:
                    budget.bench_s = max(budget.bench_s, outcome.bench_seconds)
                if outcome.feasible(config.max_metric_drop) and (best is None or objective_value(outcome, config.objective) < objective_value(best, config.objective)):  # type: ignore[operator]
                    best = outcome.summary()
                say(_line(outcome, done, config.trials, best, config, task, budget))
    except KeyboardInterrupt:
        state.interrupted = True
        executor.cancel()
        for trial in running.values():
            study.tell(trial, state=TrialState.FAIL)
        say(f"interrupted: {len(running)} trial(s) in flight dropped; keeping the best so far")
        return state


def pareto(outcomes: list[dict[str, Any]], objective: str, task: str) -> list[int]:
    """Numbers of finished trials that no other trial beats on both validation metric and objective.

    Example:
        >>> rows = [{"number": 0, "status": "ok", "val_metric": 0.9, "latency_ms": 1.0},
        ...         {"number": 1, "status": "ok", "val_metric": 0.8, "latency_ms": 2.0}]
        >>> pareto(rows, "latency", "classification")
        [0]
    """
    ok = [o for o in outcomes if o["status"] == "ok" and o.get("val_metric") is not None]
    sign = 1.0 if metrics.higher_is_better(task) else -1.0
    front = []
    for o in ok:
        q, v = sign * o["val_metric"], objective_value(o, objective)
        if not any(sign * p["val_metric"] >= q and objective_value(p, objective) <= v  # type: ignore[operator]
                   and (sign * p["val_metric"] > q or objective_value(p, objective) < v) for p in ok if p is not o):  # type: ignore[operator]
            front.append(o["number"])
    return front
