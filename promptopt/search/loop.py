"""The optimization loop, and nothing else: ask, build, evaluate (racing), tell, record, check
the stoppers; then score the baseline and the best candidate once on test and write the summary.

Everything the loop learns goes to the run folder as it happens (through :class:`History`), so
a killed run resumes from its folder: unfinished evaluations are finished from the records on
disk (no example is scored twice), trials optuna saw asked but never told are evaluated and
told, and the sampler, re-seeded from the history, continues as the uninterrupted run would.
Local moves live in :mod:`.neighbours`, the test reserve in :mod:`.reserve`, the summary in
:mod:`.finish`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from promptopt.evaluate.evaluator import Evaluator, ExampleRecord
from promptopt.evaluate.plateau import Observation, PlateauEvidence
from promptopt.llm.budget import BudgetExhausted, Reserve
from promptopt.llm.budgeted import BudgetedCompleter
from promptopt.prompt.candidate import Candidate
from promptopt.run import events as ev
from promptopt.run.history import History
from promptopt.run.summary import RunSummary
from promptopt.search.config import OptimizeConfig, TaskData
from promptopt.search.finish import Ending, summarize
from promptopt.search.mutate import REGISTRY, Writer
from promptopt.search.neighbours import Move, Neighbourhood, derived_seed
from promptopt.search.pricing import Pricing
from promptopt.search.racing import judge, race_order, rungs
from promptopt.search.space import Materials, Point, Proposal, build
from promptopt.search.stoppers import (
    Exhausted,
    FailedProposals,
    MaxTrials,
    PlateauStopper,
    Stopper,
    StopState,
    budget_stopper,
    first_reason,
)
from promptopt.task.spec import Example

log = logging.getLogger(__name__)

Observer = Callable[[ev.Event], None]


class SearchStrategy(Protocol):
    def enqueue(self, points: Sequence[Point]) -> None: ...
    def pending(self) -> list[Proposal]: ...
    def queued(self) -> int: ...
    def ask(self) -> Proposal: ...
    def tell(self, number: int, value: float) -> None: ...
    def tell_failed(self, number: int) -> None: ...
    def n_trials(self) -> int: ...


@dataclass(frozen=True)
class EvalOutcome:
    """``raced_out``: stopped before the whole dev slice, because it was confidently worse
    than the incumbent (``why="worse"``) or because scoring it on test as the winner would not
    fit in the budget left (``why="unaffordable"``)."""

    candidate_id: str
    accuracy: float
    n: int
    raced_out: bool
    why: str | None = None


@dataclass
class Optimizer:
    """One run's loop. The gate must wrap the evaluator's and the writer's completer, so that
    the reserve it holds for the final test scoring applies to every call of the search."""

    data: TaskData
    config: OptimizeConfig
    search: SearchStrategy
    evaluator: Evaluator
    gate: BudgetedCompleter
    history: History
    writer: Writer | None = None
    observers: Sequence[Observer] = ()
    stoppers: Sequence[Stopper] = ()  # checked after the built-in ones (budget, plateau, ...)
    _plateau: PlateauStopper = field(init=False)
    _stoppers: list[Stopper] = field(init=False)
    _moves: Neighbourhood = field(init=False)
    _pricing: Pricing = field(init=False)

    def __post_init__(self) -> None:
        self._plateau = PlateauStopper(self.config.plateau, on_evidence=self._record_plateau)
        self._stoppers = [
            budget_stopper,
            self._plateau,
            FailedProposals(self.config.max_failed_proposals),
            Exhausted(),
        ]
        if self.config.max_trials is not None:
            self._stoppers.insert(0, MaxTrials(self.config.max_trials))
        self._stoppers.extend(self.stoppers)
        self._moves = Neighbourhood(self.data, self.config, self.history, self.writer)
        self._pricing = Pricing(self.data, self.config, self.history, self.evaluator, self.gate)

    def seed_candidate(self, point: Point) -> Candidate:
        """The candidate at a seed point (its instruction is the seed instruction)."""
        materials = Materials(
            instructions={0: self.data.seed_instruction},
            descriptions=self.data.descriptions,
            train=self.data.train,
            seed=self.config.seed,
        )
        return replace(build(point, materials, parent=None), operator="seed")

    def enqueue_seeds(self, points: Sequence[Point]) -> list[tuple[Point, float]]:
        """Queue the seed points (see :mod:`.seeds`) cheapest first, by their estimated prompt
        tokens per call at the prior rate. Returns them in that order with the estimates."""
        priced = [(p, self._pricing.estimate_tokens(self.seed_candidate(p))) for p in points]
        ordered = sorted(priced, key=lambda pair: pair[1])
        self.search.enqueue([p for p, _ in ordered])
        return ordered

    # -- the run -------------------------------------------------------------------------

    def run(self) -> RunSummary:
        """Search until a stopper fires (or the budget runs out mid-trial), then score the
        baseline and the best candidate on test. Returns the summary (also written)."""
        self._event(ev.Segment(elapsed_s=self.gate.elapsed(), trials=self.search.n_trials()))
        reason = self._search_phase()
        self._event(ev.Stop(reason=reason, elapsed_s=self.gate.elapsed()))
        best, incomplete = self._final_phase()
        ending = Ending(
            reason=reason,
            best=best,
            baseline=self.baseline(),
            incomplete=incomplete,
            seconds=self.gate.elapsed(),
            trials=self.search.n_trials(),
            plateau=self._plateau.last,
        )
        summary = summarize(
            self.history,
            self.gate.ledger,
            ending,
            n_dev=len(self.data.dev),
            n_test=len(self.data.test),
            seed=self.config.seed,
        )
        self.history.store.write_json("summary.json", summary.to_json())
        return summary

    def _search_phase(self) -> str:
        try:
            self._finish_unfinished()
            while (reason := self._stop_reason()) is None:
                self._step()
            return reason
        except BudgetExhausted as exc:
            return exc.reason

    def _step(self) -> None:
        """One trial: finish one a killed process left asked, else the next queued seed (all
        seeds come before any move), else a local move around the incumbent (every
        ``local_every`` evaluations), else a sampler proposal."""
        pending = self.search.pending()
        if pending:
            self._trial(pending[0])
            return
        if self.search.queued():
            self._trial(self.search.ask())
            return
        stuck = self._since_last_evaluation(ev.Duplicate) >= 3
        if not ((self._local_turn() or stuck) and self._local_move()):
            self._trial(self.search.ask())

    def _since_last_evaluation(self, kind: type[ev.Event]) -> int:
        """How many ``kind`` events came after the last finished evaluation (from the history,
        so a resumed run counts the same)."""
        count = 0
        for event in reversed(self.history.events):
            if isinstance(event, ev.Evaluated):
                break
            count += isinstance(event, kind)
        return count

    def _local_turn(self) -> bool:
        every = self.config.local_every
        done = len(self.history.of(ev.Evaluated))
        return every > 0 and done >= 2 and done % every == 0

    def _stop_reason(self) -> str | None:
        self.gate.reserve = self._pricing.test_reserve(self.incumbent())
        state = StopState(
            trials=self.search.n_trials(),
            observations=tuple(self.observations()),
            budget_reason=self.gate.remaining_reason(),
            failed_in_a_row=self._since_last_evaluation(ev.TrialFailed),
            duplicates_in_a_row=self._since_last_evaluation(ev.Duplicate)
            + self._since_last_evaluation(ev.OverCap),
        )
        return first_reason(self._stoppers, state)

    # -- trials --------------------------------------------------------------------------

    def _trial(self, proposal: Proposal, *, origin: Candidate | None = None) -> None:
        """Evaluate the trial's point and tell its value. ``origin``: the local move that
        enqueued this point (its operator and parent become the candidate's lineage)."""
        lineage = None if origin is None else {"operator": origin.operator, "parents": list(origin.parents)}
        self._event(ev.Trial(number=proposal.number, point=proposal.point.params(), origin=lineage))
        candidate = self._materialize(proposal.point)
        if candidate is not None and origin is not None and origin.id == candidate.id:
            candidate = origin
        elif candidate is not None and proposal.queued:
            asked = self._lineage(proposal.number)  # a local move a killed process had asked
            candidate = replace(
                candidate,
                operator=str(asked["operator"]) if asked else "seed",
                parents=tuple(asked["parents"]) if asked else candidate.parents,
            )
        if candidate is None:
            self.search.tell_failed(proposal.number)
            self._event(
                ev.TrialFailed(
                    number=proposal.number, why="the instruction for this slot could not be written"
                )
            )
            return
        done = self.history.evaluation_of(candidate.id)
        if done is not None:
            self.search.tell(proposal.number, done.accuracy)
            self._event(ev.Duplicate(number=proposal.number, candidate=candidate.id))
            return
        if self._over_cap(candidate, trial=proposal.number):
            self.search.tell(proposal.number, 0.0)  # the sampler learns to leave such prompts
            return
        outcome = self._evaluate(candidate, trial=proposal.number)
        self.search.tell(proposal.number, outcome.accuracy)

    def _lineage(self, number: int) -> dict[str, Any] | None:
        """The local-move lineage recorded when trial ``number`` was first asked, if any."""
        asked = (e.origin for e in self.history.of(ev.Trial) if e.number == number and e.origin)
        return next(asked, None)

    def _materialize(self, point: Point) -> Candidate | None:
        if point.instruction not in self._moves.slots() and not self._write_slot(point.instruction):
            return None
        materials = Materials(
            instructions=self._moves.slots(),
            descriptions=self.data.descriptions,
            train=self.data.train,
            seed=self.config.seed,
        )
        return build(point, materials, parent=self.incumbent())

    def _write_slot(self, slot: int) -> bool:
        """Fill an instruction slot with an LLM proposal: reflective (from the incumbent's
        failures) on even slots, grounded on odd ones or while there are no failures. After two
        failed attempts the slot falls back to the seed instruction, so the search goes on."""
        attempts = sum(1 for e in self.history.of(ev.SlotFailed) if e.slot == slot)
        if attempts >= 2:
            self._event(ev.Slot(slot=slot, text=self.data.seed_instruction, operator="fallback", parent=None))
            return True
        parent = self.incumbent() or Candidate(instruction=self.data.seed_instruction)
        failures = self._moves.failures(parent)
        operator = "reflective" if slot % 2 == 0 and failures else "grounded"
        ctx = self._moves.context(failures=failures)
        rng = random.Random(derived_seed(self.config.seed, "slot", slot, attempts))
        child = REGISTRY[operator](parent, ctx, rng=rng)
        if child is None or child.instruction in self._moves.slots().values():
            self._event(ev.SlotFailed(slot=slot, operator=operator))
            return False
        self._event(ev.Slot(slot=slot, text=child.instruction, operator=operator, parent=parent.id))
        return True

    def _local_move(self) -> bool:
        """Evaluate the next untried neighbour of the most promising candidate (see
        :class:`Neighbourhood`). A neighbour the search space can express becomes an optuna
        trial (the sampler learns from it)."""
        move = self._moves.next_move()
        if move is None:
            return False
        self._take_slot(move)
        point = self._moves.point_of(move.child)
        if point is None:
            if not self._over_cap(move.child, trial=None):
                self._evaluate(move.child, trial=None)
            return True
        self.search.enqueue([point])
        proposal = self.search.ask()
        self._trial(proposal, origin=move.child if proposal.point == point else None)
        return True

    def _take_slot(self, move: Move) -> None:
        if move.new_slot is not None:
            self._event(
                ev.Slot(
                    slot=move.new_slot,
                    text=move.child.instruction,
                    operator=move.child.operator,
                    parent=move.parent.id,
                )
            )

    def _over_cap(self, candidate: Candidate, *, trial: int | None) -> bool:
        """Whether --max-prompt-tokens rules ``candidate`` out before it is scored (an
        ``over_cap`` event says so). The zero-shot baseline is always scored: it is what
        racing and the lift compare with (above the cap, it still cannot win)."""
        if candidate.id == self.baseline().id:
            return False
        tokens = self._pricing.over_cap(candidate)
        if tokens is None or self.config.max_prompt_tokens is None:
            return False
        self._event(
            ev.OverCap(
                candidate=candidate.id,
                trial=trial,
                estimate=round(tokens, 1),
                cap=self.config.max_prompt_tokens,
            )
        )
        return True

    # -- evaluation with racing ----------------------------------------------------------

    def _evaluate(
        self,
        candidate: Candidate,
        *,
        trial: int | None,
        eval_id: str | None = None,
        first_rung: int | None = None,
    ) -> EvalOutcome:
        self.history.add_candidate(candidate)
        if first_rung is None:
            first_rung = self._pricing.first_rung(candidate, self.baseline())
        if eval_id is None:
            eval_id = f"e{len(self.history.of(ev.EvalStart))}"
            self._event(
                ev.EvalStart(
                    eval=eval_id,
                    candidate=candidate.id,
                    trial=trial,
                    operator=candidate.operator,
                    first_rung=first_rung,
                )
            )
        outcome = self._race(candidate, first_rung)
        totals = self.gate.ledger.totals
        previous = self.incumbent()
        self._event(
            ev.Evaluated(
                eval=eval_id,
                candidate=candidate.id,
                trial=trial,
                operator=candidate.operator,
                accuracy=outcome.accuracy,
                n=outcome.n,
                raced_out=outcome.raced_out,
                why=outcome.why,
                spend_tokens=totals.live_tokens,
                calls=totals.calls,
                usd=totals.usd,
                elapsed_s=self.gate.elapsed(),
            )
        )
        best = self.incumbent()
        if best is not None and (previous is None or best.id != previous.id):
            self._event(ev.Incumbent(candidate=best.id, accuracy=outcome.accuracy, n=outcome.n))
        return outcome

    def _race(self, candidate: Candidate, first_rung: int) -> EvalOutcome:
        incumbent = self.incumbent()
        sizes = rungs(len(self.data.dev), first=first_rung)
        for size in sizes:
            ids = [e.id for e in self.data.dev[:size]]
            self._score(candidate, "dev", self.data.dev[:size])
            if self._pricing.unaffordable(candidate):
                if not self.history.of(ev.BudgetTight):  # warned once per run
                    self._event(self._pricing.tight_budget(candidate))
                if self._pricing.cheaper_as_good(candidate, ids):
                    return self._outcome(candidate, ids, raced_out=True, why="unaffordable")
            if incumbent is None or incumbent.id == candidate.id:
                continue
            verdict = judge(
                self.history.correct(candidate.id, "dev", ids),
                self.history.correct(incumbent.id, "dev", ids),
                alpha=self.config.race_alpha,
                looks=len(sizes),
            )
            self._event(
                ev.Rung(
                    candidate=candidate.id,
                    n=size,
                    effect=verdict.effect,
                    p_worse=verdict.p_worse,
                    stopped=verdict.stop,
                )
            )
            if verdict.stop:
                return self._outcome(candidate, ids, raced_out=True, why="worse")
        return self._outcome(candidate, [e.id for e in self.data.dev], raced_out=False)

    def _outcome(
        self, candidate: Candidate, ids: list[str], *, raced_out: bool, why: str | None = None
    ) -> EvalOutcome:
        correct = self.history.correct(candidate.id, "dev", ids)
        accuracy = sum(correct.values()) / len(correct) if correct else 0.0
        return EvalOutcome(candidate.id, accuracy, len(correct), raced_out, why)

    def _score(self, candidate: Candidate, split: str, examples: Sequence[Example]) -> None:
        """Score the examples that have no record yet; each record is stored as it arrives."""
        done = self.history.records.get((candidate.id, split), {})
        missing = [e for e in examples if e.id not in done]
        if not missing:
            return

        def keep(record: ExampleRecord) -> None:
            self.history.add_record(candidate.id, split, record)
            self._notify(
                ev.ExampleScored(
                    candidate=candidate.id, split=split, correct=record.correct, status=record.status
                )
            )

        self.evaluator.evaluate(candidate, missing, on_record=keep)

    # -- resume --------------------------------------------------------------------------

    def _finish_unfinished(self) -> None:
        """Evaluations a killed process started: finish them from the stored records, and
        tell optuna the trials it saw asked but never told."""
        for start in self.history.unfinished_evaluations():
            candidate = self.history.candidates[start.candidate]
            outcome = self._evaluate(
                candidate, trial=start.trial, eval_id=start.eval, first_rung=start.first_rung
            )
            if start.trial is not None and start.trial in {p.number for p in self.search.pending()}:
                self.search.tell(start.trial, outcome.accuracy)

    # -- state read from the history -----------------------------------------------------

    def incumbent(self) -> Candidate | None:
        """The best candidate scored on the whole dev slice (ties: the earlier one)."""
        return self.history.incumbent()

    def observations(self) -> list[Observation]:
        return [
            Observation(
                float(e.spend_tokens),
                e.candidate,
                self.history.correct(e.candidate, "dev", [x.id for x in self.data.dev[: e.n]]),
            )
            for e in self.history.of(ev.Evaluated)
        ]

    def baseline(self) -> Candidate:
        """The zero-shot prompt: the seed instruction, label names, no demos."""
        return self.data.baseline()

    # -- the end of a run ----------------------------------------------------------------

    def _final_phase(self) -> tuple[Candidate, str | None]:
        """Score the best candidate, then the baseline, on test with the whole budget left:
        what the budget cannot pay for is given up from the end (the baseline's score first,
        then test examples, in a fixed shuffled order so that any prefix is a fair sample).
        Returns the best candidate and the budget that cut the scoring short (None if none)."""
        self.gate.reserve = Reserve()
        best = self.incumbent() or self.baseline()
        incomplete: str | None = None
        order = race_order(self.data.test, self.config.seed)
        for candidate in dict.fromkeys([best, self.baseline()]):
            self.history.add_candidate(candidate)
            try:
                self._score(candidate, "test", order)
            except BudgetExhausted as exc:
                incomplete = exc.reason
                break
        self._event(
            ev.TestScored(
                best=best.id,
                incomplete=incomplete,
                best_n=len(self.history.rows(best.id, "test")),
                baseline_n=len(self.history.rows(self.baseline().id, "test")),
            )
        )
        return best, incomplete

    # -- events --------------------------------------------------------------------------

    def _record_plateau(self, evidence: PlateauEvidence) -> None:
        self._event(ev.Plateau(evidence))

    def _event(self, event: ev.Event) -> None:
        self.history.add_event(event)
        self._notify(event)

    def _notify(self, event: ev.Event) -> None:
        for observer in self.observers:
            observer(event)
