"""Optuna TPE over the search space, with ask/tell and the study stored on disk (resume).

Only primitive values cross into optuna: the point's components and the trial's value. The
run store, not optuna, keeps which candidate a trial evaluated and on how many examples. The sampler is re-seeded from
(run seed, number of trials so far) before every ask, so a resumed run samples exactly what an
uninterrupted run would have sampled from the same history.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from promptopt.errors import StoreError
from promptopt.search.space import SHRINK_CHOICES, Point, Proposal, SearchSpace, applies

log = logging.getLogger(__name__)

STUDY_NAME = "promptopt"


def _optuna() -> Any:
    import optuna

    # optuna prints through its own stderr handler by default; route it through logging instead
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _derived_seed(seed: int, n: int) -> int:
    digest = hashlib.sha256(f"{seed}:{n}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


class TPESearch:
    """ask/tell over :class:`SearchSpace` points; the study lives in ``storage_path`` (sqlite)."""

    def __init__(self, space: SearchSpace, storage_path: Path, *, seed: int, startup_trials: int = 4) -> None:
        self.space = space
        self.seed = seed
        self.startup_trials = startup_trials
        self._storage_path = storage_path
        self._study: Any = None

    def _open(self) -> Any:
        if self._study is None:
            optuna = _optuna()
            try:
                self._study = optuna.create_study(
                    study_name=STUDY_NAME,
                    storage=f"sqlite:///{self._storage_path}",
                    direction="maximize",
                    load_if_exists=True,
                )
            except Exception as exc:  # sqlalchemy / sqlite errors: locked, unreadable, full disk
                raise StoreError(
                    f"cannot open the optuna study {self._storage_path}: {exc}",
                    hint="check the run folder; a corrupted study.sqlite3 cannot be resumed",
                ) from exc
        return self._study

    def enqueue(self, points: Sequence[Point]) -> None:
        """Points to evaluate first, in order (e.g. the baselines). Skipped if already queued."""
        study = self._open()
        for point in points:
            if not self.space.contains(point):
                raise ValueError(f"seed point {point} is outside the search space")
            study.enqueue_trial(point.params(), skip_if_exists=True)

    def pending(self) -> list[Proposal]:
        """Trials asked but never told (the process was killed mid-trial), oldest first. A kill
        (or Ctrl-C) inside :meth:`ask` leaves a trial with only some of its components: an
        enqueued one takes its queued point; a sampled one is told failed (nothing of it was
        evaluated), so the next :meth:`ask` samples a whole point."""
        optuna = _optuna()
        study = self._open()
        running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        proposals = []
        for t in sorted(running, key=lambda t: t.number):
            fixed = getattr(t, "system_attrs", {}).get("fixed_params")
            try:
                point = Point.from_params({**t.params, **(fixed or {})})
            except ValueError:
                study.tell(t.number, state=optuna.trial.TrialState.FAIL)
                continue
            proposals.append(Proposal(t.number, point, queued=fixed is not None))
        return proposals

    def queued(self) -> int:
        """Enqueued points not asked yet (the seeds, until each is taken)."""
        optuna = _optuna()
        waiting = (optuna.trial.TrialState.WAITING,)
        return len(self._open().get_trials(deepcopy=False, states=waiting))

    def ask(self) -> Proposal:
        optuna = _optuna()
        study = self._open()
        trials = study.get_trials(deepcopy=False)
        waiting = any(t.state == optuna.trial.TrialState.WAITING for t in trials)  # ask() takes it first
        study.sampler = optuna.samplers.TPESampler(
            seed=_derived_seed(self.seed, len(trials)), n_startup_trials=self.startup_trials
        )
        trial = study.ask()
        return Proposal(trial.number, self._suggest(trial), queued=waiting)

    def _suggest(self, trial: Any) -> Point:
        s = self.space
        instruction = trial.suggest_categorical("instruction", list(range(s.instruction_slots)))
        labels = trial.suggest_categorical("labels", list(s.label_styles))
        demos = trial.suggest_categorical("demos", list(s.demo_strategies))
        point = Point(
            instruction=instruction,
            labels=labels,
            demos=demos,
            format=trial.suggest_categorical("format", list(s.output_formats)),
        )
        if demos != "none":
            point = replace(point, k=trial.suggest_categorical("k", list(s.k_choices)))
        if demos in ("fixed", "stratified"):
            point = replace(
                point,
                demo_set=trial.suggest_categorical("demo_set", list(range(s.demo_sets))),
                fixed_layout=trial.suggest_categorical("fixed_layout", list(s.fixed_layouts)),
            )
        if demos == "retrieved":
            point = replace(
                point,
                retriever=trial.suggest_categorical("retriever", list(s.retrievers)),
                layout=trial.suggest_categorical("layout", list(s.layouts)),
            )
        return self._suggest_shrink(trial, point)

    def _suggest_shrink(self, trial: Any, point: Point) -> Point:
        """The shrink components the space samples (none by default, so runs made before they
        existed sample exactly what they did)."""
        chosen: dict[str, Any] = {}
        for name, field_name in SHRINK_CHOICES.items():
            if self.space.samples(name) and applies(name, point):
                chosen[name] = trial.suggest_categorical(name, list(getattr(self.space, field_name)))
        return replace(point, **chosen)

    def tell(self, number: int, value: float) -> None:
        """Record the trial's value: accuracy on the dev examples it was scored on (fewer than
        the whole dev slice when racing stopped it early; the run store says how many)."""
        self._open().tell(number, value)

    def tell_failed(self, number: int) -> None:
        """The trial could not be evaluated (e.g. its instruction could not be written)."""
        optuna = _optuna()
        self._open().tell(number, state=optuna.trial.TrialState.FAIL)

    def n_trials(self) -> int:
        """Trials asked so far (queued seeds not yet asked do not count: ``--max-trials 3``
        means three trials run, whatever is queued)."""
        optuna = _optuna()
        asked = [s for s in optuna.trial.TrialState if s != optuna.trial.TrialState.WAITING]
        return len(self._open().get_trials(deepcopy=False, states=tuple(asked)))
