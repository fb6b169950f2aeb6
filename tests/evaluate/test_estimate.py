"""On the embedded model, a prompt's token estimate (from its rendering, at the rate fitted on
the prompts scored before) is within 5% of what the model counts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from promptopt import compose
from promptopt.llm import local
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.render import seed_instruction
from promptopt.prompt.tokens import TokenRate
from promptopt.settings import Paths

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.model
def test_an_estimate_is_within_5_percent_of_the_measured_count(data_dir: Path) -> None:
    paths = Paths(data_dir, (REPO / "tasks",), local.default_models_dir(), None)
    task = compose.load("banking77", paths)
    run = compose.open_eval(
        task,
        paths,
        model="local/qwen2.5-0.5b-instruct",
        seed=0,
        temperature=0.0,
        concurrency=1,
        env=os.environ,
    )
    dev = task.split("dev")
    instruction = seed_instruction(task)
    zero_shot = Candidate(instruction=instruction)
    compact = Candidate(instruction=instruction, demo_strategy="retrieved", k=4, demo_layout="compact")
    plain = Candidate(instruction=instruction, demo_strategy="retrieved", k=10, demo_layout="turns")
    # calibrated on two other prompts, as a run calibrates on what it has scored so far
    scored = [
        *run.evaluator.evaluate(zero_shot, dev[:4]).records,
        *run.evaluator.evaluate(compact, dev[4:6]).records,
    ]
    rate = TokenRate().fit([(r.size, r.prompt_tokens) for r in scored if r.size is not None])
    examples = dev[10:16]
    estimate = run.evaluator.estimate_prompt_tokens(plain, examples, rate)
    records = run.evaluator.evaluate(plain, examples).records
    actual = sum(r.prompt_tokens for r in records) / len(records)
    assert abs(estimate - actual) / actual <= 0.05, (estimate, actual)
    prior = run.evaluator.estimate_prompt_tokens(plain, examples, TokenRate())
    assert abs(estimate - actual) <= abs(prior - actual)  # measuring helps
