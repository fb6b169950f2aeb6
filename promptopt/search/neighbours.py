"""Local moves: the untried neighbours of the most promising candidates, made by the registered
mutators (structural operators, and one reflective rewrite of the instruction per parent while
instruction slots are free). The operators whose moves have gained in this run go first, the
untried next, those whose moves lost last (ties in an order fixed per parent), so that moves
are spent where the lift has been. Everything is read from the run's history, so a resumed
run makes the same moves."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from promptopt.prompt.candidate import Candidate
from promptopt.run.events import EvalStart, Evaluated, Slot
from promptopt.run.history import History
from promptopt.search.config import OptimizeConfig, TaskData
from promptopt.search.mutate import LLM_OPERATORS, REGISTRY, Failure, MutationContext, Writer
from promptopt.search.space import Point, demo_ids_for, point_of


def derived_seed(*parts: object) -> int:
    """A 64-bit seed from the run seed and names (the same in every process)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def demo_load(candidate: Candidate) -> float:
    """A proxy for the per-input prompt cost of a candidate's demos: retrieved demos count
    (fixed ones sit in the cached shared prefix), a compact block about two thirds of chat
    turns (measured: 1.4 s against 2.25 s per example for 4 MiniLM demos on banking77), the
    labels-only layout less still."""
    if candidate.demo_strategy != "retrieved":
        return 0.0
    factor = {"turns": 1.0, "compact": 0.65, "labels": 0.3}[candidate.demo_layout]
    return candidate.k * factor


def operator_gains(history: History) -> dict[str, float]:
    """Each operator's mean gain over its moves in this run: a child's accuracy minus its
    parent's on the dev examples both were scored on (seeds and sampler proposals have no
    parent and count for no operator)."""
    gains: dict[str, list[float]] = {}
    for event in history.of(Evaluated):
        child = history.candidates.get(event.candidate)
        if child is None or child.operator not in REGISTRY or not child.parents:
            continue
        mine = history.correct(child.id, "dev")
        theirs = history.correct(child.parents[0], "dev", mine.keys())
        if theirs:
            gain = sum(mine[k] for k in theirs) - sum(theirs.values())
            gains.setdefault(child.operator, []).append(gain / len(theirs))
    return {name: sum(values) / len(values) for name, values in gains.items()}


@dataclass(frozen=True)
class Move:
    """A local move: the ``child`` of ``parent``. ``new_slot``: the child's instruction is new
    (an LLM rewrite) and takes this free instruction slot."""

    child: Candidate
    parent: Candidate
    new_slot: int | None = None


@dataclass(frozen=True)
class Neighbourhood:
    """The local moves of one run, read from its ``history``."""

    data: TaskData
    config: OptimizeConfig
    history: History
    writer: Writer | None = None

    # -- instruction slots --------------------------------------------------------------

    def slots(self) -> dict[int, str]:
        """Instruction texts by slot: slot 0 is the seed instruction, the others as written."""
        return {0: self.data.seed_instruction, **self.history.instruction_slots()}

    def free_slot(self) -> int | None:
        used = self.slots()
        return next((i for i in range(self.config.space.instruction_slots) if i not in used), None)

    # -- what mutators read ---------------------------------------------------------------

    def context(
        self, *, failures: tuple[Failure, ...] = (), other: Candidate | None = None
    ) -> MutationContext:
        space = self.config.space
        return MutationContext(
            train=self.data.train,
            labels=self.data.labels,
            descriptions=self.data.descriptions,
            k_choices=space.k_choices,
            retrievers=space.retrievers,
            demo_strategies=space.demo_strategies,
            other=other,
            writer=self.writer,
            task_description=self.data.description,
            failures=failures,
        )

    def failures(self, candidate: Candidate) -> tuple[Failure, ...]:
        """The dev examples ``candidate`` got wrong (failed calls are not answers)."""
        texts = {e.id: e.text for e in self.data.dev}
        rows = self.history.rows(candidate.id, "dev")
        return tuple(
            Failure(texts[r.example_id], r.gold, r.prediction)
            for r in rows
            if r.status != "error" and not r.correct and r.example_id in texts
        )

    def runner_up(self) -> Candidate | None:
        incumbent = self.history.incumbent()
        rows = sorted(
            (r for r in self.history.full_evaluations() if incumbent and r.candidate != incumbent.id),
            key=lambda r: -r.accuracy,
        )
        return self.history.candidates[rows[0].candidate] if rows else None

    # -- the next move --------------------------------------------------------------------

    def next_move(self) -> Move | None:
        """The next untried neighbour of the most promising parent: the incumbent's next
        neighbour, or a cheaper neighbour of a strong candidate too costly to score on test."""
        incumbent = self.history.incumbent()
        for parent in self.promising():
            if incumbent is not None and parent.id != incumbent.id:
                child = self.cheaper_neighbour(parent)
                move = None if child is None else Move(child, parent)
            else:
                move = self.next_neighbour(parent)
            if move is not None:
                return move
        return None

    def promising(self) -> list[Candidate]:
        """Parents for local moves, best first: candidates stopped only because scoring them on
        test would not fit the budget, when they beat the incumbent on the examples both saw
        (their cheaper neighbours, e.g. fewer demos or a compact layout, may fit), then the
        incumbent."""
        incumbent = self.history.incumbent()
        if incumbent is None:
            return []
        ranked = []
        for event in self.history.of(Evaluated):
            if event.why != "unaffordable":
                continue
            mine = self.history.correct(event.candidate, "dev")
            theirs = self.history.correct(incumbent.id, "dev", mine.keys())
            if mine and sum(mine.values()) > sum(theirs.values()):
                ranked.append((sum(mine.values()) / len(mine), event.candidate))
        ranked.sort(key=lambda pair: -pair[0])
        return [*(self.history.candidates[cid] for _, cid in ranked), incumbent]

    def next_neighbour(self, incumbent: Candidate) -> Move | None:
        names = sorted(n for n in REGISTRY if n not in LLM_OPERATORS)
        slot = self.free_slot()
        if slot is not None and self.writer is not None:
            names.append("reflective")
        random.Random(derived_seed(self.config.seed, "neighbours", incumbent.id)).shuffle(names)
        gains = operator_gains(self.history)
        names.sort(key=lambda name: -gains.get(name, 0.0))  # stable: ties keep the shuffle
        ctx = self.context(failures=self.failures(incumbent), other=self.runner_up())
        for name in names:
            for attempt in range(1 if name in LLM_OPERATORS else 4):
                if name in LLM_OPERATORS and self.reflected_on(incumbent):
                    break
                rng = random.Random(derived_seed(self.config.seed, name, incumbent.id, attempt))
                child = REGISTRY[name](incumbent, ctx, rng=rng)
                if child is not None and self.fresh(child) and self.allowed(child):
                    return Move(child, incumbent, new_slot=slot if name in LLM_OPERATORS else None)
        return None

    def cheaper_neighbour(self, parent: Candidate) -> Candidate | None:
        """For a strong parent too costly to score on test: its untried structural neighbours
        that show fewer demo tokens per input, the smallest reduction first (the most likely
        to keep the parent's accuracy)."""
        ctx = self.context(other=self.runner_up())
        children: dict[str, Candidate] = {}
        for name in sorted(n for n in REGISTRY if n not in LLM_OPERATORS):
            for attempt in range(4):
                rng = random.Random(derived_seed(self.config.seed, name, parent.id, attempt))
                child = REGISTRY[name](parent, ctx, rng=rng)
                if (
                    child is not None
                    and self.fresh(child)
                    and self.allowed(child)
                    and demo_load(child) < demo_load(parent)
                ):
                    children[child.id] = child
        return max(children.values(), key=lambda c: (demo_load(c), c.id), default=None)

    def fresh(self, candidate: Candidate) -> bool:
        return not any(e.candidate == candidate.id for e in self.history.of(EvalStart))

    def allowed(self, candidate: Candidate) -> bool:
        """Whether the user's search space permits ``candidate``'s demos (a local move may
        produce a candidate the space has no point for, but never one of a strategy or retriever
        the user left out)."""
        space = self.config.space
        strategy = "stratified" if candidate.demo_strategy == "fixed" else candidate.demo_strategy
        if strategy not in space.demo_strategies:
            return False
        return candidate.demo_strategy != "retrieved" or candidate.retriever in space.retrievers

    def reflected_on(self, incumbent: Candidate) -> bool:
        return any(e.parent == incumbent.id and e.operator == "reflective" for e in self.history.of(Slot))

    def point_of(self, candidate: Candidate) -> Point | None:
        """The search-space point of ``candidate``, or None when the space cannot express it
        (an instruction in no slot, demo ids that are none of the seeded sets)."""
        slot = next((i for i, text in sorted(self.slots().items()) if text == candidate.instruction), None)
        if slot is None:
            return None
        demo_set = 0
        if candidate.demo_strategy in ("fixed", "stratified"):
            sets = [
                j
                for j in range(self.config.space.demo_sets)
                if demo_ids_for(
                    self.data.train, candidate.demo_strategy, len(candidate.demo_ids), j, self.config.seed
                )
                == candidate.demo_ids
            ]
            if not sets:
                return None
            demo_set = sets[0]
        point = point_of(candidate, slot=slot, demo_set=demo_set, space=self.config.space)
        return point if self.config.space.contains(point) else None
