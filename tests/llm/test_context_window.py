"""A prompt longer than the model's context window, on the real path: llama-cpp-python's
OpenAI-compatible server (its own process, a 1,024-token window) refuses it over HTTP, the
gateway reads by how much from the refusal, and the evaluator sends it again cut to fit; a
prompt that fits is sent once, unchanged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from promptopt.evaluate.evaluator import EvalSettings, Evaluator
from promptopt.llm import local
from promptopt.llm.gateway import LiteLLMGateway
from promptopt.llm.ledger import Ledger
from promptopt.llm.metered import MeteredCompleter
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import DemoSource
from promptopt.task.spec import Example
from tests.conftest import DEFAULT_LOCAL_MODEL
from tests.servers import ModelServer

pytestmark = pytest.mark.model

WINDOW = 1024
LABELS = ("billing", "card_lost")
TRAIN = tuple(
    Example(
        f"t{i}", f"{'charged twice on my bill' if i % 2 else 'my card is gone, lost it'} " * 12, LABELS[i % 2]
    )
    for i in range(8)
)


@pytest.fixture(scope="module")
def small_window() -> Iterator[ModelServer]:
    path = local.resolve(DEFAULT_LOCAL_MODEL, local.default_models_dir()).path
    with ModelServer(path, alias="small", n_ctx=WINDOW) as server:
        yield server


def test_a_prompt_over_a_served_models_window_is_cut_to_fit_and_answered(small_window: ModelServer) -> None:
    ledger = Ledger()
    gateway = LiteLLMGateway(api_bases={"openai/small": small_window.base_url})
    gateway.check("openai/small", {})  # no API key: the self-hosted server needs none
    evaluator = Evaluator(
        completer=MeteredCompleter(gateway, ledger),
        labels=LABELS,
        demo_source=DemoSource(TRAIN),
        settings=EvalSettings(model="openai/small"),
    )
    candidate = Candidate(instruction="Classify the note.", demo_strategy="retrieved", k=6, retriever="word")
    short = Example("short", "I was charged twice on my bill", "billing")
    long = Example("long", "I was charged twice on my bill and nobody answers my emails. " * 80, "billing")
    records = evaluator.evaluate(candidate, [short, long]).records
    assert records[0].status != "error" and records[1].status != "error", records[1].error
    assert records[1].prompt_tokens <= WINDOW  # what the server counted for the fitted prompt
    assert records[1].data_chars < len(long.text)  # demos dropped, then the input cut
    rows = ledger.records
    assert [r.status for r in rows].count("error") >= 1  # the refused calls are in the ledger
    assert len(rows) <= 2 + 3  # the short prompt once; the long one at most FIT_TRIES more times
