"""What a run has done so far, rebuilt from its folder: candidates, per-example evaluations,
events. The optimizer appends through it (so memory and disk never disagree), and resume,
``show`` and the reports read it. Nothing here calls a model."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from promptopt.candidate import Candidate
from promptopt.store import RunStore

Row = dict[str, Any]


@dataclass
class History:
    """In-memory mirror of a run folder. ``records[(candidate_id, split)][example_id]`` is the
    stored evaluation row; the first row wins if an example was ever written twice."""

    store: RunStore
    candidates: dict[str, Candidate] = field(default_factory=dict)
    records: dict[tuple[str, str], dict[str, Row]] = field(default_factory=lambda: defaultdict(dict))
    events: list[Row] = field(default_factory=list)

    @staticmethod
    def load(store: RunStore) -> History:
        history = History(store)
        for row in store.read("candidates"):
            candidate = Candidate.from_json(row)
            history.candidates.setdefault(candidate.id, candidate)
        for row in store.read("evaluations"):
            history.records[(row["candidate_id"], row["split"])].setdefault(row["example_id"], row)
        history.events.extend(store.read("events"))
        return history

    def add_candidate(self, candidate: Candidate) -> None:
        if candidate.id not in self.candidates:
            self.candidates[candidate.id] = candidate
            self.store.append("candidates", candidate.to_json())

    def add_record(self, candidate_id: str, split: str, record: Mapping[str, Any]) -> None:
        row = {"candidate_id": candidate_id, "split": split, **record}
        bucket = self.records[(candidate_id, split)]
        if row["example_id"] not in bucket:
            bucket[row["example_id"]] = row
            self.store.append("evaluations", row)

    def add_event(self, event: Row) -> None:
        self.events.append(event)
        self.store.append("events", event)

    def rows(self, candidate_id: str, split: str, example_ids: Iterable[str] | None = None) -> list[Row]:
        bucket = self.records.get((candidate_id, split), {})
        if example_ids is None:
            return list(bucket.values())
        return [bucket[i] for i in example_ids if i in bucket]

    def correct(self, candidate_id: str, split: str, example_ids: Iterable[str] | None = None) -> dict[str, bool]:
        """Per-example correctness, excluding failed calls (never scored as wrong)."""
        return {r["example_id"]: bool(r["correct"]) for r in self.rows(candidate_id, split, example_ids)
                if r["status"] != "error"}

    def of_kind(self, kind: str) -> list[Row]:
        return [e for e in self.events if e.get("event") == kind]

    def instruction_slots(self) -> dict[int, str]:
        return {int(e["slot"]): str(e["text"]) for e in self.of_kind("slot")}

    def unfinished_evaluations(self) -> list[Row]:
        """``eval_start`` events with no matching ``evaluated`` event, oldest first."""
        done = {e["eval"] for e in self.of_kind("evaluated")}
        return [e for e in self.of_kind("eval_start") if e["eval"] not in done]


def mean_cost(rows: Iterable[Row]) -> dict[str, float]:
    """Mean prompt+completion tokens, wall seconds and dollars per example over evaluation
    rows (failed calls excluded; dollars NaN when any call was unpriced). Seconds are the
    whole example (retrieval and rendering included; older rows without ``wall_s`` fall back
    to the call's latency) and leave out the first example, which also loads the model and
    evaluates the shared prefix: a long scoring pays that once."""
    ok = [r for r in rows if r["status"] != "error"]
    if not ok:
        return {"tokens": 0.0, "seconds": 0.0, "usd": 0.0, "prompt_tokens": 0.0}
    usd_values = [r["usd"] for r in ok]
    usd = float("nan") if any(u is None for u in usd_values) else sum(usd_values) / len(ok)
    walls = [float(r.get("wall_s") or r["latency_s"]) for r in ok]
    kept = walls[1:] if len(walls) >= 10 else walls
    return {"tokens": sum(r["prompt_tokens"] + r["completion_tokens"] for r in ok) / len(ok),
            "prompt_tokens": sum(r["prompt_tokens"] for r in ok) / len(ok),
            "seconds": sum(kept) / len(kept), "usd": usd}
