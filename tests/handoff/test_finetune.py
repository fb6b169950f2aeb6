"""The fine-tuning spec on run folders made by the real optimizer with a fake model: the spec
written automatically after a plateau, the checks and the verdict, every line of the
training files against the chat format, the eval gate (its task loads and renders the training
prompt), the probe, the data card, prices, and clear errors that overwrite nothing."""

from __future__ import annotations

import json
import math
import random
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from promptopt import compose
from promptopt.errors import DataError, UsageError
from promptopt.handoff.finetune import chat, gate
from promptopt.handoff.finetune.datacard import agreed_errors, clean, normalize
from promptopt.handoff.finetune.decision import Check, Decision, decide
from promptopt.handoff.finetune.economics import (
    Economics,
    GivenPrice,
    PerCall,
    Price,
    Side,
    Training,
    fine_tuned_name,
    resolve_price,
)
from promptopt.handoff.finetune.spec import Spec, SpecOptions, build_spec, spec_files, write_spec
from promptopt.handoff.format import pct
from promptopt.prompt.render import system_message
from promptopt.run.reader import FinishedRun, load_run_task, open_finished
from promptopt.settings import Paths
from promptopt.task.spec import Example
from promptopt.testing import FAKE_SETTINGS, task_rows, tiny_task
from tests.conftest import RunCli
from tests.handoff.worlds import Recipe, World

SETTINGS = FAKE_SETTINGS
CONFLICT = "note 9999 about alpha river stone"
TARGET = fine_tuned_name(SpecOptions().target_model)


# -- fixtures: a task on disk, and runs of the real optimizer on it ------------------------------


def _planted_rows() -> dict[str, list[tuple[str, str]]]:
    """The tiny task's rows, with one duplicate, one text under two labels and one test text
    planted in train."""
    rows = task_rows(tiny_task(n_train=600))
    rows["train"] += [rows["train"][0], (CONFLICT, "alpha"), (CONFLICT, "beta"), rows["test"][0]]
    return rows


# the `world` fixture: a plateau run and a run of 3 trials, both ended as `promptopt optimize`
# ends them (so the plateau run has its fine-tuning spec)
WORLD = Recipe("finetune", rows=_planted_rows(), settings=SETTINGS, short_trials=3, through_cli=True)


def read_run(path: Path) -> FinishedRun:
    """A finished run with a test score for its best prompt (what the spec needs)."""
    run = open_finished(path)
    run.require_test_score()
    return run


def _price_map(prices: Mapping[str, tuple[float, float]]) -> Any:
    def price(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        if model not in prices:
            return None
        per_in, per_out = prices[model]
        return (prompt_tokens * per_in + completion_tokens * per_out) / 1_000_000

    return price


PRICED = _price_map({"fake/model": (10.0, 30.0), TARGET: (0.3, 1.2)})
UNPRICED = _price_map({})


@pytest.fixture(scope="module")
def go_spec(world: World) -> Spec:
    return build_spec(read_run(world.plateau_run), world.task, SpecOptions(), PRICED)


@pytest.fixture(scope="module")
def written(world: World, go_spec: Spec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("spec")
    write_spec(spec_files(go_spec), out, force=True)
    return out


# -- written at the end of a run that reached its plateau ---------------------------------------


def test_the_spec_is_written_after_a_plateau_and_only_then(world: World) -> None:
    summary = json.loads((world.plateau_run / "summary.json").read_text())
    assert summary["stop_reason"] == "plateau" and summary["plateau"]["plateau"] is True
    auto = world.plateau_run / "finetune"
    for name in (
        "proposal.md",
        "train.jsonl",
        "val.jsonl",
        "hf_train.jsonl",
        "eval_gate.md",
        "gate.json",
        "data_card.md",
        "data_card.json",
        "gate/task.toml",
    ):
        assert (auto / name).is_file(), name
    assert json.loads((auto / "proposal.json").read_text())["checks"][0]["status"] == "met"
    short = json.loads((world.short_run / "summary.json").read_text())
    assert not (short["plateau"] or {}).get("plateau")
    assert not (world.short_run / "finetune").exists()


# -- the checks and the verdict ------------------------------------------------------------


def test_a_plateau_run_with_enough_data_and_a_cheaper_fine_tune_is_a_go(go_spec: Spec) -> None:
    statuses = {c.key: c.status for c in go_spec.checks}
    assert statuses == {"a": "met", "b": "met", "c": "met", "d": "met", "e": "met"}
    assert go_spec.decision.verdict == "go"
    e = go_spec.economics
    assert e.prompted.usd_per_million is not None and e.fine_tuned.usd_per_million is not None
    assert e.fine_tuned.usd_per_million < e.prompted.usd_per_million
    assert e.monthly_saving is not None and e.monthly_saving > 0


def test_the_proposal_cites_the_numbers_of_the_run(go_spec: Spec, written: Path) -> None:
    text = (written / "proposal.md").read_text()
    summary, plateau = go_spec.run.summary, go_spec.run.summary.plateau
    assert plateau is not None
    assert "## Verdict: **GO**" in text
    for key in ("a", "b", "c", "d"):
        assert f"| ({key}) " in text
    assert pct(summary.best_test_accuracy) in text and pct(summary.baseline_test_accuracy) in text
    assert pct(plateau.mde) in text and pct(plateau.ceiling) in text
    assert f"{plateau.n_in_window} candidates compared" in text
    for effect in plateau.effects:
        assert f"`{effect.candidate_id}` | {effect.n_paired} |" in text
    assert f"{len(go_spec.task.labels)} labels" in text
    assert f"**{len(go_spec.card.cleaning.usable)}**" in text
    assert go_spec.probe is not None and pct(go_spec.probe.scores.accuracy) in text
    assert f"${go_spec.economics.prompted.usd_per_million:,.2f}" in text
    assert f"${go_spec.economics.fine_tuned.usd_per_million:,.2f}" in text


def without_a_trained_winner(spec: Spec) -> Decision:
    """The verdict of ``spec`` had its probe not beaten the best prompt."""
    return decide([*spec.checks[:4], replace(spec.checks[4], status="not met")])


def test_unpriced_models_leave_the_cost_check_unknown_but_state_the_tokens(world: World) -> None:
    spec = build_spec(read_run(world.plateau_run), world.task, SpecOptions(), UNPRICED)
    cost, e = spec.checks[3], spec.economics
    assert cost.status == "unknown" and "no price for fake/model" in cost.finding
    prompted, tuned = e.prompted.per_call.prompt_tokens, e.fine_tuned.per_call.prompt_tokens
    assert f"the best prompt uses {prompted:,.0f} prompt tokens per call" in cost.finding
    assert f"the fine-tuned model about {tuned:,.0f} ({1 - tuned / prompted:.0%} fewer)" in cost.finding
    # the probe beats the prompt here: a go although nobody priced the model
    assert spec.checks[4].status == "met" and spec.decision.verdict == "go"
    assert any(line.startswith("(e) ") for line in spec.decision.why)
    # without that, an unpriced model leaves the verdict open, with what would settle it
    open_verdict = without_a_trained_winner(spec)
    assert open_verdict.verdict == "not yet"
    assert any("--price-per-mtok-in" in line for line in open_verdict.why)


def test_the_probe_is_compared_with_the_best_prompt_on_the_same_test_examples(world: World) -> None:
    run = read_run(world.plateau_run)
    spec = build_spec(run, world.task, SpecOptions(), UNPRICED)
    assert spec.probe is not None
    ids = set(run.scored_test_ids)
    assert set(spec.probe.correct) == ids and spec.probe.ms_per_example > 0
    prompt = {r.example_id: r.correct for r in run.best_test_rows}
    diff = sum(spec.probe.correct[i] for i in ids) / len(ids) - sum(prompt[i] for i in ids) / len(ids)
    learned = spec.checks[4]
    assert f"on the same {len(ids)} test examples" in learned.finding
    assert f"{diff * 100:+.1f} pts" in learned.finding


def test_user_prices_and_a_latency_limit_settle_the_cost_check(world: World) -> None:
    run = read_run(world.plateau_run)
    given = SpecOptions(prompted_price=GivenPrice(10.0, 30.0), target_price=GivenPrice(0.1, 0.1))
    assert build_spec(run, world.task, given, UNPRICED).checks[3].status == "met"
    slow = SpecOptions(max_latency_ms=0.0)  # every measured call is slower than 0 ms
    spec = build_spec(run, world.task, slow, UNPRICED)
    assert spec.checks[3].status == "met" and "over the 0 ms limit" in spec.checks[3].finding


def test_a_fine_tune_that_costs_more_per_classification_is_a_no_unless_training_wins(world: World) -> None:
    expensive = _price_map({"fake/model": (0.01, 0.01), TARGET: (100.0, 100.0)})
    spec = build_spec(read_run(world.plateau_run), world.task, SpecOptions(), expensive)
    assert spec.checks[3].status == "not met"
    assert spec.decision.verdict == "go" and spec.checks[4].status == "met"  # the probe beats the prompt
    no = without_a_trained_winner(spec)
    assert no.verdict == "no" and no.why[0].startswith("(d)")


def test_a_slow_payback_fails_the_cost_check(world: World) -> None:
    options = SpecOptions(train_usd_per_mtok=1e9, monthly_volume=1)
    spec = build_spec(read_run(world.plateau_run), world.task, options, PRICED)
    e = spec.economics
    assert (
        e.training.one_time_usd is not None and e.break_even_months is not None and e.break_even_months > 12
    )
    assert spec.checks[3].status == "not met" and without_a_trained_winner(spec).verdict == "no"


def test_too_few_examples_or_a_thin_class_is_not_yet(world: World) -> None:
    run = read_run(world.plateau_run)
    usable = len(build_spec(run, world.task, SpecOptions(), PRICED).card.cleaning.usable)
    spec = build_spec(run, world.task, SpecOptions(min_examples=usable + 1), PRICED)
    assert spec.checks[2].status == "not met" and "label 1 more examples" in spec.checks[2].action
    assert spec.decision.verdict == "not yet"
    thin = build_spec(run, world.task, SpecOptions(min_per_class=10_000), PRICED)
    assert (
        thin.checks[2].status == "not met"
        and f"{len(world.task.labels)} classes under 10000" in thin.checks[2].finding
    )


def test_a_run_stopped_by_something_else_shows_no_ceiling(world: World) -> None:
    spec = build_spec(read_run(world.short_run), world.task, SpecOptions(), PRICED)
    ceiling = spec.checks[0]
    assert ceiling.status == "not shown" and "'max-trials'" in ceiling.finding
    assert without_a_trained_winner(spec).verdict == "not yet"


def test_a_plateau_on_a_dev_slice_too_small_for_the_resolution_is_not_a_ceiling(world: World) -> None:
    run = read_run(world.plateau_run)
    plateau = run.summary.plateau
    assert plateau is not None and plateau.ceiling_reached
    fine = replace(plateau, resolution_asked=plateau.mde / 2)  # half of what this dev slice resolves
    run = replace(run, summary=replace(run.summary, plateau=fine))
    spec = build_spec(run, world.task, SpecOptions(), PRICED)
    ceiling = spec.checks[0]
    assert ceiling.status == "not shown" and "ceiling not resolved at this dev size" in ceiling.finding
    needed = fine.dev_needed()
    assert needed is not None and needed >= 4 * plateau.n_dev - 1  # half the MDE: four times the examples
    assert f"about {needed:,} dev examples" in ceiling.action
    open_verdict = without_a_trained_winner(spec)
    assert open_verdict.verdict == "not yet" and any("dev examples" in line for line in open_verdict.why)


@pytest.mark.parametrize(
    ("statuses", "verdict"),
    [
        # the ceiling path: a resolved ceiling and cost or latency against the prompted model
        ({"a": "met", "b": "met", "c": "met", "d": "met", "e": "not met"}, "go"),
        ({"a": "met", "b": "met", "c": "met", "d": "met", "e": "unknown"}, "go"),
        ({"a": "not shown", "b": "met", "c": "met", "d": "met", "e": "not met"}, "not yet"),
        ({"a": "met", "b": "met", "c": "met", "d": "unknown", "e": "not met"}, "not yet"),
        ({"a": "met", "b": "met", "c": "not met", "d": "unknown", "e": "not met"}, "not yet"),
        # the learned path: a trained model beats the prompt, priced or not, ceiling or not
        ({"a": "not shown", "b": "met", "c": "met", "d": "unknown", "e": "met"}, "go"),
        ({"a": "not shown", "b": "met", "c": "met", "d": "not met", "e": "met"}, "go"),
        ({"a": "not shown", "b": "met", "c": "not met", "d": "unknown", "e": "met"}, "not yet"),
        # no: not a fixed label set, or cost known against fine-tuning and training does not win
        ({"a": "met", "b": "not met", "c": "met", "d": "met", "e": "met"}, "no"),
        ({"a": "not shown", "b": "met", "c": "not met", "d": "not met", "e": "not met"}, "no"),
        ({"a": "met", "b": "met", "c": "met", "d": "not met", "e": "unknown"}, "no"),
    ],
)
def test_the_decision_rule(statuses: dict[str, Any], verdict: str) -> None:
    checks = [Check(k, f"condition {k}", s, f"finding {k}", f"action {k}") for k, s in statuses.items()]
    decision = decide(checks)
    assert decision.verdict == verdict
    open_keys = {k for k, s in statuses.items() if s != "met"}
    if verdict == "not yet":
        assert {line[1] for line in decision.why} == open_keys


# -- the training files ---------------------------------------------------------------------------


def _check_messages(messages: Any, labels: set[str], system: str, where: str) -> str:
    """Return the label; fail on anything that is not the chat format."""
    assert isinstance(messages, list) and len(messages) == 3, where
    for message in messages:
        assert isinstance(message, dict) and set(message) == {"role", "content"}, where
        assert isinstance(message["role"], str) and isinstance(message["content"], str), where
        assert message["content"].strip(), where
    assert [m["role"] for m in messages] == ["system", "user", "assistant"], where
    assert messages[0]["content"] == system, where
    assert messages[-1]["role"] == "assistant" and messages[-1]["content"] in labels, where
    return str(messages[-1]["content"])


def _lines(path: Path) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        yield f"{path.name}:{number}", json.loads(line)


def test_every_line_of_the_training_files_is_valid_chat_format(go_spec: Spec, written: Path) -> None:
    labels, system = set(go_spec.task.labels), go_spec.system_prompt
    counts: dict[str, int] = {}
    for name in ("train.jsonl", "val.jsonl"):
        for where, row in _lines(written / name):
            assert isinstance(row, dict) and set(row) == {"messages"}, where
            _check_messages(row["messages"], labels, system, where)
            counts[name] = counts.get(name, 0) + 1
    for name in ("hf_train.jsonl", "hf_val.jsonl"):
        for where, row in _lines(written / name):
            assert isinstance(row, dict) and set(row) == {"prompt", "completion"}, where
            _check_messages([*row["prompt"], *row["completion"]], labels, system, where)
            counts[name] = counts.get(name, 0) + 1
    assert counts["train.jsonl"] == counts["hf_train.jsonl"] == len(go_spec.train) > 0
    assert counts["val.jsonl"] == counts["hf_val.jsonl"] == len(go_spec.val) > 0


def test_training_rows_are_the_clean_train_split_with_a_stratified_val(go_spec: Spec, written: Path) -> None:
    def pairs(name: str) -> list[tuple[str, str]]:
        return [(r["messages"][1]["content"], r["messages"][2]["content"]) for _, r in _lines(written / name)]

    train, val = pairs("train.jsonl"), pairs("val.jsonl")
    usable = [(e.text, e.label) for e in go_spec.card.cleaning.usable]
    assert sorted(train + val) == sorted(usable) and not set(train) & set(val)
    per_label = Counter(label for _, label in usable)
    assert Counter(label for _, label in val) == {
        k: int(0.1 * n) for k, n in per_label.items() if int(0.1 * n)
    }
    test_texts = {normalize(e.text) for e in go_spec.task.split("test")}
    assert not any(normalize(text) in test_texts for text, _ in train + val)
    assert CONFLICT not in {text for text, _ in train + val}
    assert go_spec.system_prompt.startswith(go_spec.run.best.instruction)
    assert all(f"\n{label}" in go_spec.system_prompt for label in go_spec.task.labels)


def test_the_holdout_is_seeded_and_keeps_small_classes_in_train() -> None:
    examples = [Example(f"train-{i}", f"text {i}", "big" if i < 40 else "small") for i in range(45)]
    first = chat.stratified_holdout(examples, 0.1, seed=3)
    assert first == chat.stratified_holdout(examples, 0.1, seed=3)
    train, val = first
    assert len(val) == 4 and {e.label for e in val} == {"big"}
    assert sum(e.label == "small" for e in train) == 5


# -- the eval gate --------------------------------------------------------------------------------


def test_the_gate_task_holds_the_run_test_examples_and_renders_the_training_prompt(
    go_spec: Spec, written: Path
) -> None:
    g = json.loads((written / "gate.json").read_text())
    run = go_spec.run
    assert g["n"] == len(run.info.test_ids) and g["test_ids"] == list(run.info.test_ids)
    assert g["test_ids_sha256"] == gate.ids_sha256(run.info.test_ids)
    assert g["must_beat"]["accuracy"] == run.summary.best_test_accuracy
    assert run.summary.best_test_ci is not None and g["must_beat"]["ci95"] == list(run.summary.best_test_ci)
    paths = Paths(data_dir=written / "gate", task_dirs=(), models_dir=written, cache_file=None)
    gate_task = compose.load(str(written / "gate" / "task.toml"), paths)
    by_id = {e.id: e for e in go_spec.task.split("test")}
    assert [(e.text, e.label) for e in gate_task.split("test")] == [
        (by_id[i].text, by_id[i].label) for i in run.info.test_ids
    ]
    assert gate_task.labels == go_spec.task.labels
    # what `promptopt eval gate/task.toml` sends: the task's instruction, label names, no demos
    candidate = compose.baseline_candidate(
        gate_task, k=0, strategy="stratified", instruction=None, rng=random.Random(0)
    )
    first_row = next(_lines(written / "train.jsonl"))[1]
    assert system_message(candidate, gate_task.labels) == first_row["messages"][0]["content"]
    md = (written / "eval_gate.md").read_text()
    assert gate.eval_command() in md and pct(run.summary.best_test_accuracy) in md


@pytest.mark.parametrize(
    ("delta", "errors", "code"), [(0.01, 0, 0), (-0.01, 0, 1), (0.0, 0, 1), (0.01, 2, 1)]
)
def test_the_check_command_passes_only_a_model_that_beats_the_gate(
    written: Path, tmp_path: Path, delta: float, errors: int, code: int
) -> None:
    shutil.copy(written / "gate.json", tmp_path / "gate.json")
    g = json.loads((tmp_path / "gate.json").read_text())
    result = {"accuracy": g["must_beat"]["accuracy"] + delta, "n": g["n"] - errors, "errors": errors}
    (tmp_path / "gate_result.json").write_text(json.dumps(result))
    argv = shlex.split(gate.check_command())
    proc = subprocess.run(
        [sys.executable, *argv[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert ("PASS" if code == 0 else "FAIL") in proc.stdout


def test_gate_strings_survive_toml(tmp_path: Path) -> None:
    tricky = 'Say "yes"\\no\nthen\ttab, café, emoji 😀, del \x7f end'
    g = gate.Gate(
        task="t",
        run_id="r",
        test_ids=("test-0",),
        data_hashes={},
        accuracy=0.5,
        ci=(0.4, 0.6),
        macro_f1=None,
        best_candidate_id="c",
        prompted_model="m",
        instruction=tricky,
        system_prompt="s",
    )
    files = gate.gate_task_files(
        g,
        description=tricky,
        labels=("a", "b"),
        test=(Example("test-0", "x", "a"),),
        train=(Example("train-0", "y", "b"),),
        dev=(Example("dev-0", "z", "a"),),
    )
    parsed = tomllib.loads(files["gate/task.toml"])
    assert parsed["instruction"] == tricky and parsed["description"] == tricky


# -- the probe and the data card ------------------------------------------------------------------


def test_the_probe_is_scored_on_the_run_test_examples(go_spec: Spec) -> None:
    probe = go_spec.probe
    assert probe is not None
    assert probe.scores.n == len(go_spec.run.info.test_ids) and probe.n_train == len(
        go_spec.card.cleaning.usable
    )
    assert probe.scores.ci_low <= probe.scores.accuracy <= probe.scores.ci_high
    # the synthetic texts name their label ("... about beta ..."): a supervised model learns that,
    # while the flat fake model stays near chance
    assert go_spec.run.summary.best_test_accuracy is not None
    assert probe.scores.accuracy > go_spec.run.summary.best_test_accuracy


def test_the_data_card_counts_what_was_planted(go_spec: Spec, written: Path) -> None:
    card = json.loads((written / "data_card.json").read_text())
    cleaning = card["train_cleaning"]
    assert cleaning == {
        "total": 604,
        "duplicates": 1,
        "conflicting_texts": 1,
        "conflicting_examples": 2,
        "test_overlap_examples": 1,
        "usable": 600,
    }
    assert card["overlap"]["train_examples_in_test_split"] == 1
    assert (
        sum(c["train"] for c in card["classes"]) == 604
        and sum(c["test"] for c in card["classes"]) == card["test_n"]
    )
    for split in ("train", "test"):
        for unit in ("chars", "words"):
            spread = card["lengths"][split][unit]
            assert 0 < spread["p50"] <= spread["p95"] and spread["mean"] > 0
    md = (written / "data_card.md").read_text()
    assert all(f"| `{label}` |" in md for label in go_spec.task.labels)


def test_errors_every_judge_shares_are_named_with_counts_by_class_pair() -> None:
    test = [Example(f"t{i}", f"text {i}", gold) for i, gold in enumerate("aabbcc")]
    prompt = {"t0": "b", "t1": "b", "t2": "a", "t3": "b", "t4": None, "t5": "a"}
    probe = {"t0": "b", "t1": "c", "t2": "a", "t3": "b", "t4": "a", "t5": "a"}
    small = {"t0": "b", "t1": "b", "t2": "a", "t3": "b", "t4": "a", "t5": "b"}
    agreed = agreed_errors(test, [("prompt", prompt), ("probe", probe), ("small", small)])
    # t0, t2: the same wrong label from all three; t1, t5: they disagree; t3: right; t4: unanswered
    assert [e.example_id for e in agreed.examples] == ["t0", "t2"] and agreed.n_judged == 5
    assert agreed.pairs() == [("a", "b", 1), ("b", "a", 1)]
    assert agreed.to_json()["n_agreed_errors"] == 2 and agreed.judges == ("prompt", "probe", "small")


def test_the_data_card_names_the_errors_the_prompt_and_the_probe_share(go_spec: Spec, written: Path) -> None:
    agreed = go_spec.card.agreed
    assert agreed is not None and agreed.judges == ("the best prompt", "the probe")
    answered = [r for r in go_spec.run.best_test_rows if r.status != "error" and r.prediction is not None]
    assert agreed.n_judged == len(answered)
    assert go_spec.probe is not None
    for e in agreed.examples:
        assert go_spec.probe.predicted[e.example_id] == e.predicted != e.gold
    card = json.loads((written / "data_card.json").read_text())
    assert card["suspected_label_noise"]["n_agreed_errors"] == len(agreed.examples)
    assert "## Suspected label noise or ambiguous classes" in (written / "data_card.md").read_text()
    assert (
        f"{len(agreed.examples)} of the {agreed.n_judged} gate examples"
        in (written / "proposal.md").read_text()
    )


def test_cleaning_drops_every_copy_of_a_conflict_and_keeps_one_of_a_duplicate() -> None:
    train = [
        Example("train-0", "Card  lost", "lost"),
        Example("train-1", "card lost", "lost"),
        Example("train-2", "Refund?", "refund"),
        Example("train-3", "refund?", "other"),
        Example("train-4", "in test", "x"),
        Example("train-5", "fine", "x"),
    ]
    result = clean(train, ["IN  TEST"])
    assert [e.id for e in result.usable] == ["train-0", "train-5"]
    assert (
        result.duplicates,
        result.conflicting_texts,
        result.conflicting_examples,
        result.test_overlap_examples,
    ) == (1, 1, 2, 1)


# -- prices ---------------------------------------------------------------------------------------


def test_dollars_per_million_and_break_even_arithmetic() -> None:
    prompted = Side("p", PerCall(1000.0, 2.0), True, Price(1.0, 4.0, "given"))
    tuned = Side("t", PerCall(100.0, 2.0), False, Price(2.0, 8.0, "given"))
    e = Economics(
        prompted, tuned, Training(tokens_per_epoch=1e6, epochs=2, usd_per_mtok=5.0), monthly_volume=500_000
    )
    assert prompted.usd_per_million == pytest.approx(1008.0) and tuned.usd_per_million == pytest.approx(216.0)
    assert e.monthly_saving == pytest.approx(792.0 / 2)
    assert e.training.one_time_usd == pytest.approx(10.0)
    assert e.break_even_volume == pytest.approx(10.0 / 792.0 * 1e6)
    assert e.break_even_months == pytest.approx(10.0 / 396.0)
    assert e.cost_status()[0] == "met"
    dearer = replace(e, fine_tuned=replace(tuned, per_call=PerCall(2000.0, 2.0)))
    assert dearer.cost_status()[0] == "not met" and math.isinf(dearer.break_even_volume or 0)


def test_local_models_are_unpriced_and_user_prices_win() -> None:
    zero = _price_map({"local/qwen2.5-0.5b-instruct": (0.0, 0.0), "openai/gpt-4o-mini": (0.15, 0.6)})
    assert resolve_price("local/qwen2.5-0.5b-instruct", GivenPrice(), zero) is None
    given = resolve_price("local/qwen2.5-0.5b-instruct", GivenPrice(0.05, 0.1), zero)
    assert given is not None and (given.usd_per_mtok_in, given.usd_per_mtok_out) == (0.05, 0.1)
    mapped = resolve_price("openai/gpt-4o-mini", GivenPrice(), zero)
    assert mapped is not None and (mapped.usd_per_mtok_in, mapped.usd_per_mtok_out) == pytest.approx(
        (0.15, 0.6)
    )
    assert fine_tuned_name("openai/gpt-4o-mini-2024-07-18") == "ft:gpt-4o-mini-2024-07-18"
    assert fine_tuned_name("ft:gpt-4.1-nano-2025-04-14") == "ft:gpt-4.1-nano-2025-04-14"
    with pytest.raises(UsageError, match="go together"):
        SpecOptions(prompted_price=GivenPrice(1.0, None)).check()


def test_the_default_target_is_priced_by_litellms_map() -> None:
    from promptopt.llm.gateway import LiteLLMGateway

    price = resolve_price(TARGET, GivenPrice(), LiteLLMGateway().price)
    assert price is not None and 0 < price.usd_per_mtok_in < price.usd_per_mtok_out
    assert "LiteLLM" in price.source


# -- the command line and its errors --------------------------------------------------------------


def test_the_command_works_on_a_copied_run_folder(world: World, tmp_path: Path, run_cli: RunCli) -> None:
    copy = tmp_path / "elsewhere" / "run"
    shutil.copytree(world.plateau_run, copy, ignore=shutil.ignore_patterns("finetune"))
    proc = run_cli(
        "finetune-spec",
        str(copy),
        "--data-dir",
        str(world.data_dir),
        "--price-per-mtok-in",
        "10",
        "--price-per-mtok-out",
        "30",
        "--monthly-volume",
        "2000000",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "fine-tuning verdict: GO" in proc.stdout
    assert (copy / "finetune" / "proposal.md").is_file() and (
        copy / "finetune" / "gate" / "test.jsonl"
    ).is_file()
    proposal = json.loads((copy / "finetune" / "proposal.json").read_text())
    assert proposal["economics"]["monthly_volume"] == 2_000_000
    assert proposal["economics"]["prompted"]["price"]["source"] == "given by the user"


@pytest.mark.model
def test_the_small_fine_tune_is_saved_weighed_and_scored_through_the_gate(
    world: World, tmp_path: Path, run_cli: RunCli
) -> None:
    copy = tmp_path / "run"
    shutil.copytree(world.plateau_run, copy, ignore=shutil.ignore_patterns("finetune"))
    spec = run_cli(
        "finetune-spec", str(copy), "--data-dir", str(world.data_dir), "--small-model", cwd=tmp_path
    )
    assert spec.returncode == 0, spec.stderr
    out = copy / "finetune"
    proposal = json.loads((out / "proposal.json").read_text())
    small = proposal["small_fine_tune"]
    assert small["n_test"] == len(json.loads((out / "gate.json").read_text())["test_ids"])
    assert small["size_bytes"] > 10_000_000 and small["ms_per_example"] > 0 and small["train_seconds"] > 0
    assert (out / "classifier" / "classifier.json").is_file()
    learned = next(c for c in proposal["checks"] if c["key"] == "e")
    assert "the small fine-tune" in learned["finding"] and "the probe" in learned["finding"]
    assert "small fine-tune" in spec.stdout and "score it through the gate" in spec.stdout
    assert "small fine-tune: step" in spec.stderr and "s left" in spec.stderr  # progress, without --verbose
    # the Distill step: the saved model, scored through the gate like a fine-tuned LLM
    argv = shlex.split(gate.eval_command(small["model"]))
    scored = run_cli(*argv[1:], cwd=out)
    assert scored.returncode == 0, scored.stderr
    result = json.loads((out / "gate_result.json").read_text())
    assert result["n"] == small["n_test"] and result["errors"] == 0 and result["invalid"] == 0
    assert result["accuracy"] == pytest.approx(small["accuracy"])  # the same saved model, the same examples


def test_a_run_that_does_not_exist_exits_8(tmp_path: Path, run_cli: RunCli) -> None:
    proc = run_cli("finetune-spec", str(tmp_path / "nope"), cwd=tmp_path)
    assert proc.returncode == 8 and "does not exist" in proc.stderr and "promptopt runs" in proc.stderr


def test_an_unfinished_run_exits_2_and_says_how_to_finish_it(
    world: World, tmp_path: Path, run_cli: RunCli
) -> None:
    copy = tmp_path / "run"
    shutil.copytree(world.short_run, copy)
    (copy / "summary.json").unlink()
    proc = run_cli("finetune-spec", str(copy), cwd=tmp_path)
    assert proc.returncode == 2 and "unfinished" in proc.stderr and "promptopt resume" in proc.stderr
    assert not (copy / "finetune").exists()


def test_a_run_of_an_older_format_exits_8_and_writes_nothing(
    world: World, tmp_path: Path, run_cli: RunCli
) -> None:
    copy = tmp_path / "run"
    shutil.copytree(world.short_run, copy, ignore=shutil.ignore_patterns("finetune"))
    info = json.loads((copy / "run.json").read_text())
    (copy / "run.json").write_text(json.dumps({**info, "format_version": 0}))
    proc = run_cli("finetune-spec", str(copy), cwd=tmp_path)
    assert proc.returncode == 8 and "format" in proc.stderr, proc.stderr
    assert not (copy / "finetune").exists()


def test_a_non_empty_out_folder_is_refused_without_force(
    world: World, tmp_path: Path, run_cli: RunCli
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "proposal.md").write_text("mine")
    proc = run_cli(
        "finetune-spec",
        str(world.plateau_run),
        "--out",
        str(out),
        "--data-dir",
        str(world.data_dir),
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "not empty" in proc.stderr and "--force" in proc.stderr
    assert [p.name for p in out.iterdir()] == ["proposal.md"] and (out / "proposal.md").read_text() == "mine"
    forced = run_cli(
        "finetune-spec",
        str(world.plateau_run),
        "--out",
        str(out),
        "--data-dir",
        str(world.data_dir),
        "--force",
        cwd=tmp_path,
    )
    assert forced.returncode == 0, forced.stderr
    assert (out / "proposal.md").read_text() != "mine" and (out / "train.jsonl").is_file()


def test_the_default_out_folder_of_an_auto_written_spec_is_not_overwritten(world: World) -> None:
    before = (world.plateau_run / "finetune" / "proposal.md").read_text()
    run: FinishedRun = read_run(world.plateau_run)
    with pytest.raises(UsageError, match="not empty"):
        write_spec({"proposal.md": "new"}, world.plateau_run / "finetune", force=False)
    assert (world.plateau_run / "finetune" / "proposal.md").read_text() == before
    assert run.best.id == json.loads((world.plateau_run / "summary.json").read_text())["best_candidate_id"]


def test_a_run_without_a_test_score_for_its_best_prompt_is_refused(world: World, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(world.short_run, copy)
    summary = json.loads((copy / "summary.json").read_text())
    (copy / "summary.json").write_text(
        json.dumps({**summary, "best_test_accuracy": None, "test_incomplete": "budget-calls"})
    )
    with pytest.raises(UsageError, match="no test score") as caught:
        open_finished(copy).require_test_score()
    assert "budget-calls" in str(caught.value)


def test_data_that_changed_since_the_run_is_refused(world: World, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(world.data_dir, data)
    with (data / "fake" / "train.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"text": "a new note about gamma", "label": "gamma"}) + "\n")
    paths = replace(world.paths, data_dir=data)
    with pytest.raises(DataError, match="changed since this run started"):
        load_run_task(read_run(world.plateau_run), paths)
    assert load_run_task(read_run(world.plateau_run), world.paths).data_hashes == world.task.data_hashes
