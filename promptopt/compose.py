"""Composition helpers for the entry layer: build the concrete objects a command needs (task,
completer stack, evaluator) from resolved settings, and shape results for output. Only the CLI
and scripts (benchmarks) call this; library layers never do."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from promptopt.errors import UsageError
from promptopt.evaluate.evaluator import EvalSettings, Evaluator
from promptopt.evaluate.plateau import DEFAULT_RESOLUTION, PlateauConfig
from promptopt.llm import embed, local
from promptopt.llm.budget import Budget
from promptopt.llm.budgeted import BudgetedCompleter
from promptopt.llm.cache import CachingCompleter, DiskCache
from promptopt.llm.gateway import DEFAULT_TIMEOUT_S, LiteLLMGateway
from promptopt.llm.ledger import Ledger, LedgerRecord
from promptopt.llm.metered import MeteredCompleter
from promptopt.llm.router import load_router_config
from promptopt.llm.types import Completer
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import DemoSource, random_demo_ids, stratified_demo_ids
from promptopt.prompt.describe import keyword_descriptions
from promptopt.prompt.render import default_instruction, render_sized, seed_instruction
from promptopt.prompt.retrieve import EmbeddingRetriever, Retriever
from promptopt.prompt.tokens import TokenRate
from promptopt.run.events import Evaluated, Segment, Stop
from promptopt.run.history import History
from promptopt.run.store import RunStore, atomic_write
from promptopt.search.config import OptimizeConfig, TaskData
from promptopt.search.loop import Observer, Optimizer
from promptopt.search.mutate import CompleterWriter
from promptopt.search.outlook import Need, ceiling_outlook, plateau_needs
from promptopt.search.racing import race_order
from promptopt.search.reserve import BudgetEstimate, budget_estimate
from promptopt.search.seeds import seed_points
from promptopt.search.space import SearchSpace, fitted
from promptopt.search.tpe import TPESearch
from promptopt.settings import Paths
from promptopt.task.load import load_task
from promptopt.task.spec import Example, Task, sample


def load(name_or_path: str, paths: Paths) -> Task:
    return load_task(name_or_path, search_dirs=paths.task_dirs, data_dir=paths.data_dir)


def slice_of(
    task: Task, split: str, limit: int | None, *, seed: int, stratified: bool = False
) -> tuple[Example, ...]:
    return sample(task.split(split), limit, seed=seed, stratified=stratified)


def baseline_candidate(
    task: Task,
    *,
    k: int,
    strategy: str,
    instruction: str | None,
    rng: random.Random,
    retriever: str = "word",
    layout: str = "turns",
) -> Candidate:
    """The unoptimized prompt: the task's (or a generic) instruction, label names, and ``k``
    demos chosen by ``strategy`` (shown in ``layout``; retrieved with ``retriever``)."""
    text = instruction or task.spec.instruction or default_instruction(task.spec.description)
    train = task.split("train")
    try:
        if k == 0:
            return Candidate(instruction=text)
        if strategy == "retrieved":
            return Candidate(
                instruction=text,
                demo_strategy="retrieved",
                k=k,
                retriever=retriever,  # type: ignore[arg-type]
                demo_layout=layout,  # type: ignore[arg-type]
            )
        pick = stratified_demo_ids if strategy == "stratified" else random_demo_ids
        return Candidate(
            instruction=text,
            demo_strategy="fixed" if strategy == "random" else "stratified",
            demo_ids=pick(train, k, rng),
            demo_layout=layout,  # type: ignore[arg-type]
        )
    except ValueError as exc:
        raise UsageError(
            f"this prompt cannot be built: {exc}",
            hint="--retriever applies to --demo-strategy retrieved; --demo-layout labels too",
        ) from exc


@dataclass
class EvalRun:
    evaluator: Evaluator
    ledger: Ledger
    completer: Completer


def demo_source(task: Task, paths: Paths | None) -> DemoSource:
    """Demos from train, with word and character TF-IDF retrievers, and the MiniLM one when
    its package is installed."""
    retrievers: dict[str, Retriever] = {}
    if embed.available():
        embedder = embed.MiniLMEmbedder(paths.embed_dir if paths is not None else None)
        retrievers["minilm"] = EmbeddingRetriever(task.split("train"), embedder)
    return DemoSource(task.split("train"), retrievers=retrievers)


def fit_space(space: SearchSpace, task: Task) -> SearchSpace:
    """The space with the components this task's data calls for (see
    :func:`promptopt.search.space.fitted`)."""
    return fitted(space, task.split("train"))


def available_retrievers(space: SearchSpace) -> SearchSpace:
    """The space without retrievers that cannot run here (MiniLM without its package)."""
    keep = tuple(r for r in space.retrievers if r != "minilm" or embed.available())
    return replace(space, retrievers=keep or ("word",))


def make_gateway(
    paths: Paths,
    api_bases: Mapping[str, str] | None = None,
    router: str | None = None,
    timeout_s: float | None = None,
) -> LiteLLMGateway:
    """The door to models (no I/O until a call; a router file is read and checked here).
    ``timeout_s``: seconds one attempt may take (None: the gateway's default)."""
    return LiteLLMGateway(
        models_dir=paths.models_dir,
        api_bases=dict(api_bases or {}),
        router=load_router_config(Path(router)) if router else None,
        timeout_s=DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s,
    )


def build_completer(
    paths: Paths,
    ledger: Ledger,
    api_bases: Mapping[str, str] | None = None,
    router: str | None = None,
    timeout_s: float | None = None,
) -> tuple[LiteLLMGateway, Completer]:
    """gateway -> cache (optional) -> ledger: every call is metered, hits included.
    ``api_bases``: the server of each self-hosted model string; ``router``: a LiteLLM Router
    file whose model names go to their deployments."""
    gateway = make_gateway(paths, api_bases, router, timeout_s)
    inner: Completer = gateway
    if paths.cache_file is not None:
        inner = CachingCompleter(gateway, DiskCache(paths.cache_file))
    return gateway, MeteredCompleter(inner, ledger)


def open_eval(
    task: Task,
    paths: Paths,
    *,
    model: str,
    seed: int,
    temperature: float,
    concurrency: int | None,
    env: Mapping[str, str],
    api_base: str | None = None,
    router: str | None = None,
    timeout_s: float | None = None,
) -> EvalRun:
    """Check the model (before any work) and build an evaluator for it (at ``api_base``, the
    URL of a self-hosted server, or through the deployments of a ``router`` file; each attempt
    at most ``timeout_s`` seconds)."""
    ledger = Ledger()
    bases = {model: api_base} if api_base else None
    gateway, completer = build_completer(paths, ledger, bases, router, timeout_s)
    gateway.check(model, env)
    workers = concurrency or (1 if local.is_local(model) else 8)
    settings = EvalSettings(model=model, temperature=temperature, concurrency=workers, seed=seed)
    evaluator = Evaluator(
        completer=completer, labels=task.labels, demo_source=demo_source(task, paths), settings=settings
    )
    return EvalRun(evaluator=evaluator, ledger=ledger, completer=completer)


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_jsonl(path: Path, rows: Iterable[Any]) -> None:
    atomic_write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


# -- optimization runs ------------------------------------------------------------------------


@dataclass(frozen=True)
class OptimizeSettings:
    """Everything that defines an optimization run; stored in run.json so ``resume`` rebuilds
    the same run. Budgets may be raised on resume; nothing else changes."""

    task: str
    model: str
    proposer_model: str | None = None
    seed: int = 0
    budget: Budget = field(default_factory=Budget)
    dev_limit: int | None = 200
    test_limit: int | None = None
    max_trials: int | None = None
    first_rung: int = 20
    space: SearchSpace = field(default_factory=SearchSpace)
    concurrency: int | None = None
    temperature: float = 0.0
    max_prompt_tokens: int | None = None
    ceiling_resolution: float = DEFAULT_RESOLUTION  # a plateau is a ceiling when the dev slice resolves this
    api_base: str | None = None  # the server of a self-hosted task model (and of the proposer, if the same)
    router: str | None = None  # a LiteLLM Router file: its model names reach their deployments
    timeout_s: float | None = None  # seconds one call attempt may take (None: the default, 120)

    def api_bases(self) -> dict[str, str]:
        """The gateway's model -> server map (empty: every model at its provider)."""
        return {self.model: self.api_base} if self.api_base else {}

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "model": self.model,
            "proposer_model": self.proposer_model,
            "seed": self.seed,
            "budget": self.budget.to_json(),
            "dev_limit": self.dev_limit,
            "test_limit": self.test_limit,
            "max_trials": self.max_trials,
            "first_rung": self.first_rung,
            "space": self.space.to_json(),
            "concurrency": self.concurrency,
            "temperature": self.temperature,
            "max_prompt_tokens": self.max_prompt_tokens,
            "ceiling_resolution": self.ceiling_resolution,
        } | {  # older run.json files stay as they were
            k: v
            for k, v in (("api_base", self.api_base), ("router", self.router), ("timeout_s", self.timeout_s))
            if v
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> OptimizeSettings:
        fields = dict(data)
        fields["budget"] = Budget(**fields["budget"])
        fields["space"] = SearchSpace.from_json(fields["space"])
        return OptimizeSettings(**fields)


def versions() -> dict[str, str | None]:
    """Installed versions of promptopt and the libraries a run depends on (no imports)."""
    from importlib import metadata

    found: dict[str, str | None] = {}
    for name in ("promptopt", "litellm", "optuna", "dspy", "llama_cpp_python", "datasets", "scikit-learn"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def optimize_slices(
    task: Task, settings: OptimizeSettings
) -> tuple[tuple[Example, ...], tuple[Example, ...]]:
    """The dev slice in racing order (stratified sample, then a seeded shuffle) and the test
    slice (stratified, so --test-limit 770 on banking77 is 10 per label)."""
    dev = sample(task.split("dev"), settings.dev_limit, seed=settings.seed, stratified=True)
    test = sample(task.split("test"), settings.test_limit, seed=settings.seed, stratified=True)
    return race_order(dev, settings.seed), test


def new_run_info(
    task: Task, settings: OptimizeSettings, dev: tuple[Example, ...], test: tuple[Example, ...]
) -> dict[str, Any]:
    return {
        "run_kind": "optimize",
        "task": task.name,
        "task_file": str(task.spec.source) if task.spec.source else None,
        "settings": settings.to_json(),
        "versions": versions(),
        "data_hashes": dict(task.data_hashes),
        "dev_ids": [e.id for e in dev],
        "test_ids": [e.id for e in test],
    }


def restored_ledger(store: RunStore) -> Ledger:
    """The ledger of a run so far (for budgets across a resume), then appending to its file."""
    ledger = Ledger()
    for row in store.read("ledger"):
        ledger.record(LedgerRecord(**row))
    ledger.sink = lambda record: store.append("ledger", record.to_json())
    return ledger


def elapsed_before(history: History) -> float:
    """Wall seconds the run had used when its last process stopped (last recorded figure)."""
    timed = (e for e in history.events if isinstance(e, (Segment, Evaluated, Stop)))
    return max((float(e.elapsed_s) for e in timed), default=0.0)


# stop reason -> (the flag that sets its limit, its key in Budget.to_json())
BUDGET_STOPS = {
    "budget-calls": ("--budget-calls", "calls"),
    "budget-tokens": ("--budget-tokens", "tokens"),
    "budget-usd": ("--budget-usd", "usd"),
    "time-limit": ("--time-limit", "seconds"),
}


def check_resumable(store: RunStore, before: Budget, after: Budget) -> None:
    """A run folder continues if it has no summary yet, or if it ended on a budget whose limit
    ``after`` raises above ``before`` (the run's budget) and no longer reaches: the search
    goes on and the summary is written again at the new end. Anything else is refused before
    a call is made or a file written."""
    if not store.has("summary.json"):
        return
    run = store.path
    reason = str(store.read_json("summary.json").get("stop_reason"))
    if reason not in BUDGET_STOPS:
        raise UsageError(
            f"run {run} is finished: it stopped on {reason!r}, not on a budget, so there is nothing to resume",
            hint=f"see it with: promptopt show {run}; search again with a new run: promptopt optimize",
        )
    flag, key = BUDGET_STOPS[reason]
    old, new = before.to_json()[key], after.to_json()[key]
    if new is not None and old is not None and new <= old:
        raise UsageError(
            f"run {run} stopped on {reason} ({flag} {old}); resuming with {flag} {new} would stop it again at once",
            hint=f"raise it: promptopt resume {run} {flag} N, with N above {old}",
        )
    totals = restored_ledger(store).totals
    elapsed = elapsed_before(History.load(store))
    still = after.exceeded(totals, elapsed)
    if still is not None:
        spent = {
            "budget-calls": f"{totals.calls - totals.cached_calls} live calls",
            "budget-tokens": f"{totals.live_tokens:,} tokens",
            "budget-usd": f"${totals.usd or 0:.4f}",
            "time-limit": f"{elapsed:.0f} s",
        }[still]
        still_flag, still_key = BUDGET_STOPS[still]
        raise UsageError(
            f"run {run} has spent {spent}; its {still_flag} ({after.to_json()[still_key]}) would stop it again at once",
            hint=f"raise it: promptopt resume {run} {still_flag} N, with N above what is spent",
        )


@dataclass
class OptimizeRun:
    optimizer: Optimizer
    store: RunStore
    settings: OptimizeSettings
    estimate: BudgetEstimate
    seed_text: str | None = None  # a new run: its seeds, cheapest first, and the test price
    pace: TimePace | None = None  # a new run: what pricing its time limit needs


@dataclass(frozen=True)
class TimePace:
    """A new run's plateau verdict in prompt tokens, priced against its time limit once
    ``after_evaluations`` evaluations (the seeds) have shown the model's pace."""

    need: Need
    after_evaluations: int


def check_prompt_cap(task: Task, settings: OptimizeSettings) -> None:
    """Before a run folder exists: --max-prompt-tokens must leave room for the zero-shot
    prompt (estimated at 4 characters a token over the first dev examples)."""
    cap = settings.max_prompt_tokens
    if cap is None:
        return
    dev, _ = optimize_slices(task, settings)
    zero_shot = Candidate(instruction=seed_instruction(task))
    sizes = [render_sized(zero_shot, task.labels, [], e.text)[1] for e in dev[:10]]
    tokens = sum(TokenRate().tokens(size) for size in sizes) / max(len(sizes), 1)
    if tokens > cap:
        raise UsageError(
            f"--max-prompt-tokens {cap} is below the zero-shot prompt's about {tokens:.0f} tokens per "
            "call (instruction and label list): no prompt of this task can fit",
            hint=f"raise --max-prompt-tokens to at least {int(tokens * 1.2)}, or drop it",
        )


def seed_text(seeds: Sequence[tuple[Candidate, float]], n_test: int) -> str:
    """The seeds in the order they will be scored, with their estimated prompt tokens per call,
    and the price of the final test scoring at the costliest seed's tokens."""
    parts = [f"{describe(c)} ~{tokens:.0f}" for c, tokens in seeds]
    top = max(tokens for _, tokens in seeds)
    return (
        "seeds, cheapest first (prompt tokens per call, estimated): "
        + "; ".join(parts)
        + f". Final test scoring: {n_test} examples for the winner and {n_test} for the baseline, "
        f"about {n_test * top:,.0f} prompt tokens for a winner that costs what the costliest seed does."
    )


def describe(candidate: Candidate) -> str:
    """A seed in a few words: zero-shot, or its demos."""
    if candidate.demo_strategy == "none":
        return "zero-shot"
    return f"{candidate.k} {candidate.retriever} demos ({candidate.demo_layout})"


def open_optimize(
    task: Task,
    settings: OptimizeSettings,
    paths: Paths,
    store: RunStore,
    *,
    env: Mapping[str, str],
    observers: Sequence[Observer] = (),
    clock: Callable[[], float] = time.monotonic,
) -> OptimizeRun:
    """Build the loop for a new or resumed run folder (``store``), checking both models first."""
    ledger = restored_ledger(store)
    gateway, metered = build_completer(
        paths, ledger, settings.api_bases(), settings.router, settings.timeout_s
    )
    check_models(settings, gateway, env)
    return assemble_optimize(
        task,
        settings,
        store,
        metered=metered,
        ledger=ledger,
        observers=observers,
        clock=clock,
        demos=demo_source(task, paths),
    )


def assemble_optimize(
    task: Task,
    settings: OptimizeSettings,
    store: RunStore,
    *,
    metered: Completer,
    ledger: Ledger,
    observers: Sequence[Observer] = (),
    clock: Callable[[], float] = time.monotonic,
    demos: DemoSource | None = None,
) -> OptimizeRun:
    """The loop over an already metered completer (``ledger`` must record its calls). Tests
    pass a fake completer here; :func:`open_optimize` passes the real gateway stack."""
    dev, test = optimize_slices(task, settings)
    history = History.load(store, max_prompt_tokens=settings.max_prompt_tokens, retry_failed=True)
    gate = BudgetedCompleter(
        metered, ledger, settings.budget, clock=clock, started=clock() - elapsed_before(history)
    )
    workers = settings.concurrency or (1 if local.is_local(settings.model) else 8)
    evaluator = Evaluator(
        completer=gate,
        labels=task.labels,
        demo_source=demos or DemoSource(task.split("train")),
        settings=EvalSettings(
            model=settings.model, temperature=settings.temperature, concurrency=workers, seed=settings.seed
        ),
        clock=clock,
    )
    search = TPESearch(settings.space, store.path / "study.sqlite3", seed=settings.seed)
    data = TaskData(
        description=task.spec.description,
        labels=task.labels,
        train=task.split("train"),
        dev=dev,
        test=test,
        seed_instruction=seed_instruction(task),
        descriptions=_descriptions(task, settings.space),
    )
    config = OptimizeConfig(
        seed=settings.seed,
        max_trials=settings.max_trials,
        first_rung=settings.first_rung,
        space=settings.space,
        max_prompt_tokens=settings.max_prompt_tokens,
        plateau=PlateauConfig(resolution=settings.ceiling_resolution),
    )
    writer = CompleterWriter(gate, settings.proposer_model or settings.model)
    optimizer = Optimizer(
        data=data,
        config=config,
        search=search,
        evaluator=evaluator,
        gate=gate,
        history=history,
        writer=writer,
        observers=observers,
    )
    text, pace = None, None
    if not history.events:
        seeds = optimizer.enqueue_seeds(seed_points(settings.space))
        text = seed_text([(optimizer.seed_candidate(p), t) for p, t in seeds], len(test))
        seed_tokens = [t for _, t in seeds]
        text += "\n" + ceiling_outlook(
            n_dev=len(dev),
            dev_available=len(task.split("dev")),
            first_rung=settings.first_rung,
            n_test=len(test),
            seed_tokens=seed_tokens,
            budget=settings.budget,
            config=config.plateau,
        )
        tokens, _ = plateau_needs(
            n_dev=len(dev),
            first_rung=settings.first_rung,
            n_test=len(test),
            seed_tokens=seed_tokens,
            config=config.plateau,
        )
        pace = TimePace(need=tokens, after_evaluations=min(len(seeds), settings.max_trials or len(seeds)))
    estimate = budget_estimate(
        settings.budget, n_dev=len(dev), n_test=len(test), first_rung=settings.first_rung
    )
    return OptimizeRun(
        optimizer=optimizer, store=store, settings=settings, estimate=estimate, seed_text=text, pace=pace
    )


def _descriptions(task: Task, space: SearchSpace) -> tuple[tuple[str, str], ...]:
    if "described" not in space.label_styles:
        return ()
    return keyword_descriptions(task.split("train"), task.labels)


def check_models(settings: OptimizeSettings, gateway: LiteLLMGateway, env: Mapping[str, str]) -> None:
    """Before any work (and before a run folder is created): both models can be called, and
    a dollar budget can be enforced for them."""
    models = list(dict.fromkeys([settings.model, settings.proposer_model or settings.model]))
    for model in models:
        gateway.check(model, env)
    if settings.budget.usd is None:
        return
    for model in models:
        if gateway.price(model, 1000, 100) is None:
            raise UsageError(
                f"--budget-usd cannot be enforced: model {model!r} has no price in LiteLLM's map",
                hint="use --budget-calls or --budget-tokens for this model",
            )
