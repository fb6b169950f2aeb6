"""What a run has done so far, rebuilt from its folder: candidates, per-example evaluations,
events. The optimizer appends through it (so memory and disk never disagree), and resume,
``show`` and the reports read it. Nothing here calls a model."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from promptopt.prompt.candidate import Candidate
from promptopt.run.store import RunStore

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


def _wall(row: Row) -> float:
    """The example's wall time (older rows without ``wall_s``: the call's latency)."""
    return float(row.get("wall_s") or row["latency_s"])


def live_wall(row: Row) -> float | None:
    """What an example took, or would take without the completion cache: a live row's wall
    time; a cached row's wall time with the lookup replaced by its original call's latency.
    None for a failed call and for cached rows of older runs (no original latency kept)."""
    if row["status"] == "error":
        return None
    wall = _wall(row)
    if not row.get("cached"):
        return wall
    original = row.get("live_latency_s")
    return None if original is None else max(0.0, wall - float(row["latency_s"])) + float(original)


def _trimmed_mean(walls: list[float]) -> float:
    """The mean without the slowest example once there are 10 (it also loaded the model or
    evaluated the shared prefix, which a long scoring pays once)."""
    kept = sorted(walls)[:-1] if len(walls) >= 10 else walls
    return sum(kept) / len(kept)


def mean_cost(rows: Iterable[Row]) -> dict[str, float]:
    """Mean prompt+completion tokens, wall seconds and dollars per example over evaluation
    rows (failed calls excluded; dollars NaN when any call was unpriced). Seconds are the
    whole example (retrieval and rendering included) as it would run without the completion
    cache (see :func:`live_wall`; ``live`` counts the rows that could be timed so); with no
    such row, the rows' own wall times."""
    ok = [r for r in rows if r["status"] != "error"]
    if not ok:
        return {"tokens": 0.0, "seconds": 0.0, "usd": 0.0, "prompt_tokens": 0.0, "live": 0.0}
    usd_values = [r["usd"] for r in ok]
    usd = float("nan") if any(u is None for u in usd_values) else sum(usd_values) / len(ok)
    timed = [w for w in map(live_wall, ok) if w is not None]
    walls = timed or [_wall(r) for r in ok]
    return {"tokens": sum(r["prompt_tokens"] + r["completion_tokens"] for r in ok) / len(ok),
            "prompt_tokens": sum(r["prompt_tokens"] for r in ok) / len(ok),
            "seconds": _trimmed_mean(walls), "usd": usd, "live": float(len(timed))}


def live_seconds_per_example(history: History, split: str) -> float | None:
    """Mean seconds per example of ``split`` over all candidates, as :func:`live_wall` times
    them, leaving out each candidate's slowest example (model load, shared prefix). None when
    no example of the run can be timed."""
    walls: list[float] = []
    slowest: list[float] = []
    for (_, row_split), bucket in history.records.items():
        if row_split != split:
            continue
        timed = sorted(w for w in map(live_wall, bucket.values()) if w is not None)
        slowest += timed[-1:]
        walls += timed[:-1]
    kept = walls or slowest
    return sum(kept) / len(kept) if kept else None
