"""The optimization loop, and nothing else: ask, build, evaluate (racing), tell, record, check
the stoppers; then score the baseline and the best candidate once on test and write the summary.

Everything the loop learns goes to the run folder as it happens (through :class:`History`), so
a killed run resumes from its folder: unfinished evaluations are finished from the records on
disk (no example is scored twice), trials optuna saw asked but never told are evaluated and
told, and the sampler, re-seeded from the history, continues as the uninterrupted run would.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from promptopt.evaluate.evaluator import Evaluator, ExampleRecord
from promptopt.evaluate.plateau import Observation, PlateauConfig, PlateauEvidence
from promptopt.evaluate.scoring import Outcome, score
from promptopt.llm.budget import Budget, BudgetExhausted, Reserve
from promptopt.llm.budgeted import BudgetedCompleter
from promptopt.prompt.candidate import Candidate
from promptopt.run.history import History, Row, live_seconds_per_example, mean_cost
from promptopt.search.mutate import LLM_OPERATORS, REGISTRY, Failure, MutationContext, Writer
from promptopt.search.racing import judge, rungs
from promptopt.search.space import Materials, Point, Proposal, SearchSpace, build, demo_ids_for, point_of
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

Event = dict[str, Any]
# a candidate with fewer dev answers whose live cost is known is timed by the run's mean example
MIN_LIVE_ROWS = 5


class SearchStrategy(Protocol):
    def enqueue(self, points: Sequence[Point]) -> None: ...
    def pending(self) -> list[Proposal]: ...
    def ask(self) -> Proposal: ...
    def tell(self, number: int, value: float) -> None: ...
    def tell_failed(self, number: int) -> None: ...
    def n_trials(self) -> int: ...


@dataclass(frozen=True)
class OptimizeConfig:
    """Loop settings. ``first_rung``: dev examples a new candidate is scored on before the
    first racing test; ``race_alpha``: family-wise level of the racing stop (Bonferroni over
    the rungs); ``max_trials``: optuna trials (None: until another stopper fires);
    ``local_every``: one step in this many is a local move (a structural operator applied to
    the incumbent) instead of a sampler proposal; 0 turns local moves off."""

    seed: int = 0
    max_trials: int | None = None
    first_rung: int = 20
    race_alpha: float = 0.05
    plateau: PlateauConfig = field(default_factory=PlateauConfig)
    max_failed_proposals: int = 5
    space: SearchSpace = field(default_factory=SearchSpace)
    local_every: int = 2


@dataclass(frozen=True)
class TaskData:
    """The slices the loop works on. ``dev`` is in racing order (rungs are its prefixes)."""

    description: str
    labels: tuple[str, ...]
    train: tuple[Example, ...]
    dev: tuple[Example, ...]
    test: tuple[Example, ...]
    seed_instruction: str
    descriptions: tuple[tuple[str, str], ...] = ()


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


def derived_seed(*parts: object) -> int:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


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
    observers: Sequence[Callable[[Event], None]] = ()
    _plateau: PlateauStopper = field(init=False)
    _stoppers: list[Stopper] = field(init=False)

    def __post_init__(self) -> None:
        self._plateau = PlateauStopper(self.config.plateau, on_evidence=self._record_plateau)
        self._stoppers = [budget_stopper, self._plateau, FailedProposals(self.config.max_failed_proposals),
                          Exhausted()]
        if self.config.max_trials is not None:
            self._stoppers.insert(0, MaxTrials(self.config.max_trials))

    # -- the run -------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Search until a stopper fires (or the budget runs out mid-trial), then score the
        baseline and the best candidate on test. Returns the summary (also written)."""
        self._event({"event": "segment", "elapsed_s": self.gate.elapsed(), "trials": self.search.n_trials()})
        reason = self._search_phase()
        self._event({"event": "stop", "reason": reason, "elapsed_s": self.gate.elapsed()})
        final = self._final_phase()
        summary = self._summary(reason, final)
        self.history.store.write_json("summary.json", summary)
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
        """One trial: finish one a killed process left asked, else a local move around the
        incumbent (every ``local_every`` evaluations), else a sampler proposal."""
        pending = self.search.pending()
        if pending:
            self._trial(pending[0])
            return
        stuck = self._since_last_evaluation("duplicate") >= 3
        if not ((self._local_turn() or stuck) and self._local_move()):
            self._trial(self.search.ask())

    def _since_last_evaluation(self, kind: str) -> int:
        """How many ``kind`` events came after the last finished evaluation (from the history,
        so a resumed run counts the same)."""
        count = 0
        for event in reversed(self.history.events):
            if event["event"] == "evaluated":
                break
            count += event["event"] == kind
        return count

    def _local_turn(self) -> bool:
        every = self.config.local_every
        done = len(self.history.of_kind("evaluated"))
        return every > 0 and done >= 2 and done % every == 0

    def _stop_reason(self) -> str | None:
        self.gate.reserve = self._final_reserve()
        state = StopState(trials=self.search.n_trials(), observations=tuple(self.observations()),
                          budget_reason=self.gate.remaining_reason(),
                          failed_in_a_row=self._since_last_evaluation("trial_failed"),
                          duplicates_in_a_row=self._since_last_evaluation("duplicate"))
        return first_reason(self._stoppers, state)

    # -- trials --------------------------------------------------------------------------

    def _trial(self, proposal: Proposal, *, origin: Candidate | None = None) -> None:
        """Evaluate the trial's point and tell its value. ``origin``: the local move that
        enqueued this point (its operator and parent become the candidate's lineage)."""
        self._event({"event": "trial", "number": proposal.number, "point": proposal.point})
        candidate = self._materialize(proposal.point)
        if candidate is not None and origin is not None and origin.id == candidate.id:
            candidate = origin
        elif candidate is not None and proposal.queued:
            candidate = replace(candidate, operator="seed")
        if candidate is None:
            self.search.tell_failed(proposal.number)
            self._event({"event": "trial_failed", "number": proposal.number,
                         "why": "the instruction for this slot could not be written"})
            return
        done = self._evaluated(candidate.id)
        if done is not None:
            self.search.tell(proposal.number, float(done["accuracy"]))
            self._event({"event": "duplicate", "number": proposal.number, "candidate": candidate.id})
            return
        outcome = self._evaluate(candidate, trial=proposal.number)
        self.search.tell(proposal.number, outcome.accuracy)

    def _materialize(self, point: Point) -> Candidate | None:
        slot = int(point["instruction"])
        if slot not in self._slots() and not self._write_slot(slot):
            return None
        materials = Materials(instructions=self._slots(), descriptions=self.data.descriptions,
                              train=self.data.train, seed=self.config.seed)
        return build(point, materials, parent=self.incumbent())

    def _slots(self) -> dict[int, str]:
        return {0: self.data.seed_instruction, **self.history.instruction_slots()}

    def _write_slot(self, slot: int) -> bool:
        """Fill an instruction slot with an LLM proposal: reflective (from the incumbent's
        failures) on even slots, grounded on odd ones or while there are no failures. After two
        failed attempts the slot falls back to the seed instruction, so the search goes on."""
        attempts = sum(1 for e in self.history.of_kind("slot_failed") if e["slot"] == slot)
        if attempts >= 2:
            self._event({"event": "slot", "slot": slot, "text": self.data.seed_instruction,
                         "operator": "fallback", "parent": None})
            return True
        parent = self.incumbent() or Candidate(instruction=self.data.seed_instruction)
        failures = self._failures(parent)
        operator = "reflective" if slot % 2 == 0 and failures else "grounded"
        ctx = self._context(failures=failures)
        child = REGISTRY[operator](parent, ctx, rng=random.Random(derived_seed(self.config.seed, "slot", slot, attempts)))
        if child is None or child.instruction in self._slots().values():
            self._event({"event": "slot_failed", "slot": slot, "operator": operator})
            return False
        self._event({"event": "slot", "slot": slot, "text": child.instruction, "operator": operator,
                     "parent": parent.id})
        return True

    def _context(self, *, failures: tuple[Failure, ...] = (), other: Candidate | None = None) -> MutationContext:
        return MutationContext(train=self.data.train, labels=self.data.labels,
                               descriptions=self.data.descriptions, k_choices=self.config.space.k_choices,
                               retrievers=self.config.space.retrievers, demo_strategies=self.config.space.demo_strategies,
                               other=other, writer=self.writer, task_description=self.data.description,
                               failures=failures)

    def _failures(self, candidate: Candidate) -> tuple[Failure, ...]:
        texts = {e.id: e.text for e in self.data.dev}
        rows = self.history.rows(candidate.id, "dev")
        return tuple(Failure(texts[r["example_id"]], r["gold"], r["prediction"]) for r in rows
                     if r["status"] != "error" and not r["correct"] and r["example_id"] in texts)

    def _local_move(self) -> bool:
        """Evaluate the next untried neighbour of the most promising candidate: structural
        operators (and one reflective rewrite per parent while instruction slots are free), in
        an order fixed per parent, so consecutive local moves walk its whole neighbourhood. A
        neighbour the search space can express becomes an optuna trial (the sampler learns
        from it)."""
        child = None
        incumbent = self.incumbent()
        for parent in self._promising():
            costly = incumbent is not None and parent.id != incumbent.id
            child = self._cheaper_neighbour(parent) if costly else self._next_neighbour(parent)
            if child is not None:
                break
        if child is None:
            return False
        point = self._point_of(child)
        if point is None:
            self._evaluate(child, trial=None)
            return True
        self.search.enqueue([point])
        proposal = self.search.ask()
        self._trial(proposal, origin=child if proposal.point == point else None)
        return True

    def _promising(self) -> list[Candidate]:
        """Parents for local moves, best first: candidates stopped only because scoring them on
        test would not fit the budget, when they beat the incumbent on the examples both saw
        (their cheaper neighbours, e.g. fewer demos or a compact layout, may fit), then the
        incumbent."""
        incumbent = self.incumbent()
        if incumbent is None:
            return []
        ranked = []
        for event in self.history.of_kind("evaluated"):
            if event.get("why") != "unaffordable":
                continue
            mine = self.history.correct(event["candidate"], "dev")
            theirs = self.history.correct(incumbent.id, "dev", mine.keys())
            if mine and sum(mine.values()) > sum(theirs.values()):
                ranked.append((sum(mine.values()) / len(mine), event["candidate"]))
        ranked.sort(key=lambda pair: -pair[0])
        return [*(self.history.candidates[cid] for _, cid in ranked), incumbent]

    def _next_neighbour(self, incumbent: Candidate) -> Candidate | None:
        names = sorted(n for n in REGISTRY if n not in LLM_OPERATORS)
        if self._free_slot() is not None and self.writer is not None:
            names.append("reflective")
        random.Random(derived_seed(self.config.seed, "neighbours", incumbent.id)).shuffle(names)
        ctx = self._context(failures=self._failures(incumbent), other=self._runner_up())
        for name in names:
            for attempt in range(1 if name in LLM_OPERATORS else 4):
                if name in LLM_OPERATORS and self._reflected_on(incumbent):
                    break
                rng = random.Random(derived_seed(self.config.seed, name, incumbent.id, attempt))
                child = REGISTRY[name](incumbent, ctx, rng=rng)
                if child is not None and self._fresh(child) and self._allowed(child):
                    if name in LLM_OPERATORS:
                        self._add_slot(child, parent=incumbent)
                    return child
        return None

    def _cheaper_neighbour(self, parent: Candidate) -> Candidate | None:
        """For a strong parent too costly to score on test: its untried structural neighbours
        that show fewer demo tokens per input, the smallest reduction first (the most likely
        to keep the parent's accuracy)."""
        ctx = self._context(other=self._runner_up())
        children: dict[str, Candidate] = {}
        for name in sorted(n for n in REGISTRY if n not in LLM_OPERATORS):
            for attempt in range(4):
                rng = random.Random(derived_seed(self.config.seed, name, parent.id, attempt))
                child = REGISTRY[name](parent, ctx, rng=rng)
                if (child is not None and self._fresh(child) and self._allowed(child)
                        and demo_load(child) < demo_load(parent)):
                    children[child.id] = child
        return max(children.values(), key=lambda c: (demo_load(c), c.id), default=None)

    def _fresh(self, candidate: Candidate) -> bool:
        return not any(e["candidate"] == candidate.id for e in self.history.of_kind("eval_start"))

    def _allowed(self, candidate: Candidate) -> bool:
        """Whether the user's search space permits ``candidate``'s demos (a local move may
        produce a candidate the space has no point for, but never one of a strategy or retriever
        the user left out)."""
        space = self.config.space
        strategy = "stratified" if candidate.demo_strategy == "fixed" else candidate.demo_strategy
        if strategy not in space.demo_strategies:
            return False
        return candidate.demo_strategy != "retrieved" or candidate.retriever in space.retrievers

    def _reflected_on(self, incumbent: Candidate) -> bool:
        return any(e.get("parent") == incumbent.id and e["operator"] == "reflective"
                   for e in self.history.of_kind("slot"))

    def _free_slot(self) -> int | None:
        used = self._slots()
        return next((i for i in range(self.config.space.instruction_slots) if i not in used), None)

    def _add_slot(self, child: Candidate, *, parent: Candidate) -> None:
        slot = self._free_slot()
        if slot is not None:
            self._event({"event": "slot", "slot": slot, "text": child.instruction, "operator": child.operator,
                         "parent": parent.id})

    def _point_of(self, candidate: Candidate) -> Point | None:
        """The search-space point of ``candidate``, or None when the space cannot express it
        (an instruction in no slot, demo ids that are none of the seeded sets)."""
        slot = next((i for i, text in sorted(self._slots().items()) if text == candidate.instruction), None)
        if slot is None:
            return None
        demo_set = 0
        if candidate.demo_strategy in ("fixed", "stratified"):
            sets = [j for j in range(self.config.space.demo_sets)
                    if demo_ids_for(self.data.train, candidate.demo_strategy, len(candidate.demo_ids), j,
                                    self.config.seed) == candidate.demo_ids]
            if not sets:
                return None
            demo_set = sets[0]
        point = point_of(candidate, slot=slot, demo_set=demo_set)
        return point if self.config.space.contains(point) else None

    # -- evaluation with racing ----------------------------------------------------------

    def _evaluate(self, candidate: Candidate, *, trial: int | None, eval_id: str | None = None) -> EvalOutcome:
        self.history.add_candidate(candidate)
        if eval_id is None:
            eval_id = f"e{len(self.history.of_kind('eval_start'))}"
            self._event({"event": "eval_start", "eval": eval_id, "candidate": candidate.id,
                         "trial": trial, "operator": candidate.operator})
        outcome = self._race(candidate)
        totals = self.gate.ledger.totals
        previous = self.incumbent()
        self._event({"event": "evaluated", "eval": eval_id, "candidate": candidate.id, "trial": trial,
                     "operator": candidate.operator, "accuracy": outcome.accuracy, "n": outcome.n,
                     "raced_out": outcome.raced_out, "why": outcome.why, "spend_tokens": totals.live_tokens,
                     "calls": totals.calls, "usd": totals.usd, "elapsed_s": self.gate.elapsed()})
        best = self.incumbent()
        if best is not None and (previous is None or best.id != previous.id):
            self._event({"event": "incumbent", "candidate": best.id, "accuracy": outcome.accuracy,
                         "n": outcome.n})
        return outcome

    def _race(self, candidate: Candidate) -> EvalOutcome:
        incumbent = self.incumbent()
        sizes = rungs(len(self.data.dev), first=min(self.config.first_rung, len(self.data.dev)))
        for size in sizes:
            ids = [e.id for e in self.data.dev[:size]]
            self._score(candidate, "dev", self.data.dev[:size])
            if self._unaffordable(candidate):
                self._warn_tight_budget(candidate)
                return self._outcome(candidate, ids, raced_out=True, why="unaffordable")
            if incumbent is None or incumbent.id == candidate.id:
                continue
            verdict = judge(self.history.correct(candidate.id, "dev", ids),
                            self.history.correct(incumbent.id, "dev", ids),
                            alpha=self.config.race_alpha, looks=len(sizes))
            self._event({"event": "rung", "candidate": candidate.id, "n": size, "effect": verdict.effect,
                         "p_worse": verdict.p_worse, "stopped": verdict.stop})
            if verdict.stop:
                return self._outcome(candidate, ids, raced_out=True, why="worse")
        return self._outcome(candidate, [e.id for e in self.data.dev], raced_out=False)

    def _outcome(self, candidate: Candidate, ids: list[str], *, raced_out: bool, why: str | None = None) -> EvalOutcome:
        correct = self.history.correct(candidate.id, "dev", ids)
        accuracy = sum(correct.values()) / len(correct) if correct else 0.0
        return EvalOutcome(candidate.id, accuracy, len(correct), raced_out, why)

    def _unaffordable(self, candidate: Candidate) -> bool:
        """Whether scoring the baseline and ``candidate`` on test (at their measured dev cost)
        would overrun the budget from here: such a candidate could not be the winner."""
        reserve = self._reserve_for(candidate)
        return self.gate.budget.exceeded(self.gate.ledger.totals, self.gate.elapsed(), reserve) is not None

    def _warn_tight_budget(self, candidate: Candidate) -> None:
        """Once per run: the budget cannot pay for scoring a candidate like this one on test,
        so only cheaper candidates can win. Says what it would cost and what to change."""
        if self.history.of_kind("budget_tight"):
            return
        reserve = self._reserve_for(candidate)
        left = self.gate.budget.seconds - self.gate.elapsed() if self.gate.budget.seconds is not None else None
        self._event({"event": "budget_tight", "candidate": candidate.id, "reserve": reserve.to_json(),
                     "seconds_left": left, "test_n": len(self.data.test),
                     "text": (f"scoring the baseline and {candidate.id} on {len(self.data.test)} test examples "
                              f"would need about {reserve.seconds:.0f} s, {reserve.calls} calls and "
                              f"{reserve.tokens:.0f} tokens, more than the budget has left"
                              + (f" ({left:.0f} s)" if left is not None else "")
                              + ": candidates that cost this much cannot win; raise --time-limit or the "
                              "--budget-* limit, or lower --test-limit")})

    def _score(self, candidate: Candidate, split: str, examples: Sequence[Example]) -> None:
        """Score the examples that have no record yet; each record is stored as it arrives."""
        done = self.history.records.get((candidate.id, split), {})
        missing = [e for e in examples if e.id not in done]
        if not missing:
            return

        def keep(record: ExampleRecord) -> None:
            self.history.add_record(candidate.id, split, record.to_json())
            self._notify({"event": "example", "candidate": candidate.id, "split": split,
                          "correct": record.correct, "status": record.status})

        self.evaluator.evaluate(candidate, missing, on_record=keep)

    # -- resume --------------------------------------------------------------------------

    def _finish_unfinished(self) -> None:
        """Evaluations a killed process started: finish them from the stored records, and
        tell optuna the trials it saw asked but never told."""
        for start in self.history.unfinished_evaluations():
            candidate = self.history.candidates[start["candidate"]]
            outcome = self._evaluate(candidate, trial=start["trial"], eval_id=start["eval"])
            if start["trial"] is not None and start["trial"] in {p.number for p in self.search.pending()}:
                self.search.tell(int(start["trial"]), outcome.accuracy)

    # -- state read from the history -----------------------------------------------------

    def _evaluated(self, candidate_id: str) -> Row | None:
        return next((e for e in self.history.of_kind("evaluated") if e["candidate"] == candidate_id), None)

    def _full_evaluations(self) -> list[Row]:
        return [e for e in self.history.of_kind("evaluated") if not e["raced_out"]]

    def incumbent(self) -> Candidate | None:
        """The best candidate scored on the whole dev slice (ties: the earlier one)."""
        best: Row | None = None
        for row in self._full_evaluations():
            if best is None or row["accuracy"] > best["accuracy"]:
                best = row
        return None if best is None else self.history.candidates[best["candidate"]]

    def _runner_up(self) -> Candidate | None:
        incumbent = self.incumbent()
        rows = sorted((r for r in self._full_evaluations() if incumbent and r["candidate"] != incumbent.id),
                      key=lambda r: -float(r["accuracy"]))
        return self.history.candidates[rows[0]["candidate"]] if rows else None

    def observations(self) -> list[Observation]:
        return [Observation(float(e["spend_tokens"]), e["candidate"],
                            self.history.correct(e["candidate"], "dev", [x.id for x in self.data.dev[:e["n"]]]))
                for e in self.history.of_kind("evaluated")]

    def _final_reserve(self) -> Reserve:
        """What scoring the baseline and the incumbent on test is expected to cost."""
        return self._reserve_for(self.incumbent())

    def _reserve_for(self, best: Candidate | None) -> Reserve:
        """Cost of scoring the baseline and ``best`` on the test examples they lack, from their
        mean cost per dev example, plus a margin: 10% for tokens and dollars, 25% for seconds
        (wall time also moves with the machine's load and the test texts; measured on banking77:
        test took 18% longer per example than the dev estimate). Calls are exact. Seconds are
        what the examples take live (a cached answer counts its original call's latency: the
        test answers may well be live); a candidate with fewer than MIN_LIVE_ROWS dev answers
        timed so (cached by an older version, which kept no latency) is priced at the run's
        mean example."""
        todo = [(c, len(self.data.test) - len(self.history.rows(c.id, "test")))
                for c in dict.fromkeys([self.baseline(), *([best] if best else [])])]
        costs = [(self._dev_cost(c), n) for c, n in todo]
        usd = sum(c["usd"] * n for c, n in costs)
        return Reserve(calls=sum(n for _, n in todo), tokens=1.1 * sum(c["tokens"] * n for c, n in costs),
                       usd=0.0 if math.isnan(usd) else 1.1 * usd,
                       seconds=1.25 * sum(c["seconds"] * n for c, n in costs))

    def _dev_cost(self, candidate: Candidate) -> dict[str, float]:
        cost = mean_cost(self.history.rows(candidate.id, "dev"))
        if cost["live"] >= MIN_LIVE_ROWS:
            return cost
        pooled = live_seconds_per_example(self.history, "dev")
        return cost if pooled is None else {**cost, "seconds": max(pooled, cost["seconds"])}

    def baseline(self) -> Candidate:
        """The zero-shot prompt: the seed instruction, label names, no demos."""
        return Candidate(instruction=self.data.seed_instruction)

    # -- the end of a run ----------------------------------------------------------------

    def _final_phase(self) -> dict[str, Any]:
        """Score the baseline and the best candidate on test, with the whole budget."""
        self.gate.reserve = Reserve()
        best = self.incumbent() or self.baseline()
        incomplete: str | None = None
        for candidate in dict.fromkeys([self.baseline(), best]):
            self.history.add_candidate(candidate)
            try:
                self._score(candidate, "test", self.data.test)
            except BudgetExhausted as exc:
                incomplete = exc.reason
                break
        self._event({"event": "test_scored", "best": best.id, "incomplete": incomplete})
        return {"best": best, "incomplete": incomplete}

    def _summary(self, reason: str, final: dict[str, Any]) -> dict[str, Any]:
        best: Candidate = final["best"]
        baseline = self.baseline()
        totals = self.gate.ledger.totals
        best_dev = self._evaluated(best.id)
        evidence = self._plateau.last
        return {
            "best_candidate_id": best.id, "baseline_candidate_id": baseline.id,
            **self._test_scores("baseline", baseline), **self._test_scores("best", best),
            "test_n": len(self.data.test), "test_incomplete": final["incomplete"],
            "best_dev_accuracy": None if best_dev is None else best_dev["accuracy"],
            "best_dev_n": None if best_dev is None else best_dev["n"],
            "baseline_dev_accuracy": (self._evaluated(baseline.id) or {}).get("accuracy"),
            "dev_n": len(self.data.dev),
            "calls": totals.calls, "cached_calls": totals.cached_calls, "errors": totals.errors,
            "prompt_tokens": totals.prompt_tokens, "completion_tokens": totals.completion_tokens,
            "usd": totals.usd, "unpriced_calls": totals.unpriced_calls,
            "seconds": self.gate.elapsed(), "stop_reason": reason,
            "plateau": evidence.to_json() if evidence is not None else None,
            "trials": self.search.n_trials(), "evaluations": len(self.history.of_kind("evaluated")),
            "calls_by_role": self._calls_by_role(),
            "best_prompt_tokens_per_call": mean_cost(self.history.rows(best.id, "test"))["prompt_tokens"],
            "pareto": self._pareto(), "best_candidate": best.to_json(),
        }

    def _test_scores(self, name: str, candidate: Candidate) -> dict[str, Any]:
        rows = [r for r in self.history.rows(candidate.id, "test") if r["status"] != "error"]
        complete = len(self.history.rows(candidate.id, "test")) == len(self.data.test)
        if not rows or not complete:
            return {f"{name}_test_accuracy": None, f"{name}_test_ci": None, f"{name}_test_macro_f1": None}
        s = score([Outcome(r["gold"], r["prediction"]) for r in rows], seed=self.config.seed)
        return {f"{name}_test_accuracy": s.accuracy, f"{name}_test_ci": [s.ci_low, s.ci_high],
                f"{name}_test_macro_f1": s.macro_f1}

    def _calls_by_role(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.gate.ledger.records:
            counts[record.role] = counts.get(record.role, 0) + 1
        return counts

    def _pareto(self) -> list[dict[str, Any]]:
        """Candidates scored on the whole dev slice that no other beats on both accuracy and
        prompt tokens per call (the cost of the prompt in production)."""
        points = [(e["candidate"], float(e["accuracy"]),
                   mean_cost(self.history.rows(e["candidate"], "dev"))["prompt_tokens"])
                  for e in self._full_evaluations()]
        front = [p for p in points if not any(q[1] >= p[1] and q[2] <= p[2] and q[:3] != p[:3]
                                               and (q[1] > p[1] or q[2] < p[2]) for q in points)]
        return [{"candidate": c, "dev_accuracy": a, "prompt_tokens_per_call": t}
                for c, a, t in sorted(set(front), key=lambda p: p[2])]

    # -- events --------------------------------------------------------------------------

    def _record_plateau(self, evidence: PlateauEvidence) -> None:
        self._event({"event": "plateau", **evidence.to_json()})

    def _event(self, event: Event) -> None:
        self.history.add_event(event)
        self._notify(event)

    def _notify(self, event: Event) -> None:
        for observer in self.observers:
            observer(event)


def demo_load(candidate: Candidate) -> float:
    """A proxy for the per-input prompt cost of a candidate's demos: retrieved demos count
    (fixed ones sit in the cached shared prefix), a compact block about two thirds of chat
    turns (measured: 1.4 s against 2.25 s per example for 4 MiniLM demos on banking77), the
    labels-only layout less still."""
    if candidate.demo_strategy != "retrieved":
        return 0.0
    factor = {"turns": 1.0, "compact": 0.65, "labels": 0.3}[candidate.demo_layout]
    return candidate.k * factor


def budget_estimate(budget: Budget, *, n_dev: int, n_test: int, first_rung: int) -> dict[str, Any]:
    """Before the run: how many first-rung trials the call budget allows once the final test
    scoring (2 calls per test example) is set aside, and a warning when that is too few for the
    sampler to learn anything (fewer than 8: the baselines plus a handful of proposals)."""
    reserve = 2 * n_test
    if budget.calls is None:
        return {"reserve_calls": reserve, "search_calls": None, "trials_min": None, "warning": None}
    search_calls = budget.calls - reserve
    rung = min(first_rung, n_dev)
    trials_min = max(0, search_calls) // max(n_dev, 1)
    trials_max = max(0, search_calls) // max(rung, 1)
    warning = None
    if trials_max < 8:
        warning = (f"--budget-calls {budget.calls} leaves {search_calls} calls for the search after "
                   f"{reserve} for the final test scoring: at most {trials_max} candidates even if every "
                   f"one is stopped after {rung} dev examples. Raise the budget or lower --dev-limit/--test-limit.")
    return {"reserve_calls": reserve, "search_calls": search_calls, "trials_min": trials_min,
            "trials_max": trials_max, "warning": warning}
