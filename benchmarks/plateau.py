"""What the plateau stopper saves and what it gives up, against running to the full budget.

Synthetic trajectories: per-example correctness of a sequence of candidates on a dev set of
``--n`` examples, each candidate's latent accuracy following a curve (saturating, flat, a late
step, or a slow steady rise), with independent answer flips as noise; spend grows by one unit
per candidate. For every curve and seed, the stopper (promptopt.evaluate.plateau.assess, default
config) is run after each candidate; where it first fires we record the share of the budget
spent and the points of latent accuracy given up (best latent accuracy among candidates seen
by then, against the best over the whole budget).

Recorded trajectories: ``--runs runs/A runs/B`` replays the dev evaluations of real run
folders the same way (points given up are then in dev accuracy of the incumbent).

    python benchmarks/plateau.py [--seeds 50] [--n 200] [--budget 60] [--runs runs/...] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from promptopt.evaluate.plateau import Observation, PlateauConfig, assess
from promptopt.run.events import Evaluated
from promptopt.run.history import History
from promptopt.run.store import RunStore

Curve = Callable[[int, int], float]


def curves(budget: int) -> dict[str, Curve]:
    return {
        "saturating (0.30 -> 0.80, tau=8)": lambda t, _: 0.80 - 0.50 * math.exp(-t / 8),
        "flat at 0.60": lambda t, _: 0.60,
        "step +0.12 at 60% of budget": lambda t, b: 0.55 + (0.12 if t >= int(0.6 * b) else 0.0),
        "steady rise 0.2 -> 0.8": lambda t, b: 0.2 + 0.6 * t / max(b - 1, 1),
    }


def synthetic(
    curve: Curve, budget: int, n: int, seed: int, flip: float
) -> tuple[list[Observation], list[float]]:
    rng = np.random.default_rng(seed)
    difficulty = rng.permutation((np.arange(n) + 0.5) / n)
    ids = [f"ex{i}" for i in range(n)]
    observations, latent = [], []
    for t in range(budget):
        p = min(max(curve(t, budget), 0.0), 1.0)
        correct = (difficulty < p) ^ (rng.random(n) < flip)
        observations.append(Observation(float(t + 1), f"c{t}", dict(zip(ids, correct.tolist(), strict=True))))
        latent.append(p)
    return observations, latent


def first_plateau(observations: Sequence[Observation], config: PlateauConfig) -> int | None:
    """Number of observations seen when the stopper first fires, or None."""
    for k in range(1, len(observations) + 1):
        if assess(observations[:k], config).plateau:
            return k
    return None


def run_synthetic(args: argparse.Namespace, config: PlateauConfig) -> list[dict[str, Any]]:
    rows = []
    for name, curve in curves(args.budget).items():
        saved, lost, fired = [], [], 0
        for seed in range(args.seeds):
            observations, latent = synthetic(curve, args.budget, args.n, seed, args.flip)
            k = first_plateau(observations, config)
            stop = k or len(observations)
            fired += k is not None
            saved.append(1.0 - observations[stop - 1].spend / observations[-1].spend)
            lost.append((max(latent) - max(latent[:stop])) * 100)
        rows.append(
            {
                "curve": name,
                "seeds": args.seeds,
                "fired": fired,
                "budget_saved_mean": float(np.mean(saved)),
                "points_lost_mean": float(np.mean(lost)),
                "points_lost_max": float(np.max(lost)),
            }
        )
    return rows


def recorded(path: Path) -> list[Observation]:
    history = History.load(RunStore.open(path))
    dev_ids = RunStore.open(path).read_json("run.json")["dev_ids"]
    return [
        Observation(float(e.spend_tokens), e.candidate, history.correct(e.candidate, "dev", dev_ids[: e.n]))
        for e in history.of(Evaluated)
    ]


def run_recorded(paths: Sequence[Path], config: PlateauConfig) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        observations = recorded(path)
        if not observations:
            continue
        k = first_plateau(observations, config)
        stop = k or len(observations)
        full = max(len(o.correct) for o in observations)

        def best(obs: Sequence[Observation], size: int = full) -> float:
            accs = [sum(o.correct.values()) / len(o.correct) for o in obs if len(o.correct) == size]
            return max(accs, default=float("nan"))

        rows.append(
            {
                "run": path.name,
                "evaluations": len(observations),
                "fired_at": k,
                "budget_saved": 1.0 - observations[stop - 1].spend / max(observations[-1].spend, 1e-9),
                "points_lost_dev": (best(observations) - best(observations[:stop])) * 100,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--n", type=int, default=200, help="dev examples")
    parser.add_argument("--budget", type=int, default=60, help="candidates in the full budget")
    parser.add_argument("--flip", type=float, default=0.03, help="chance an answer flips (noise)")
    parser.add_argument("--runs", type=Path, nargs="*", default=[])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    config = PlateauConfig()
    synthetic_rows = run_synthetic(args, config)
    print(f"synthetic: {args.seeds} seeds, dev n={args.n}, budget {args.budget} candidates, flip {args.flip}")
    print("| curve | stopper fired | budget saved (mean) | points lost (mean) | points lost (max) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in synthetic_rows:
        print(
            f"| {r['curve']} | {r['fired']}/{r['seeds']} | {r['budget_saved_mean']:.0%} | "
            f"{r['points_lost_mean']:.2f} | {r['points_lost_max']:.2f} |"
        )
    recorded_rows = run_recorded(args.runs, config)
    if recorded_rows:
        print("\n| run | evaluations | fired at | budget saved | dev points lost |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for r in recorded_rows:
            print(
                f"| {r['run']} | {r['evaluations']} | {r['fired_at']} | {r['budget_saved']:.0%} | {r['points_lost_dev']:.1f} |"
            )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "synthetic": synthetic_rows,
                    "recorded": recorded_rows,
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
