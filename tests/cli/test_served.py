"""The remote-provider path against a real server: the embedded model behind llama-cpp-python's
OpenAI-compatible server on 127.0.0.1, named ``openai/served`` with ``--api-base`` (no API key).
eval, optimize, resume after a budget stop, export, verify and predict all go over HTTP; a
server that is down fails the command with exit 7 and says why."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from promptopt.llm import local
from promptopt.testing import write_tiny_task
from tests.conftest import DEFAULT_LOCAL_MODEL, RunCli
from tests.servers import FaultProxy, ModelServer, always, free_port

pytestmark = pytest.mark.model


def _rows(path: Path) -> list[dict[str, object]]:
    lines = path.read_text().splitlines() if path.is_file() else []
    return [json.loads(line) for line in lines if line.strip()]


def test_eval_through_a_real_server_answers_as_the_in_process_model(
    tmp_path: Path, run_cli: RunCli, model_server: ModelServer
) -> None:
    task = write_tiny_task(tmp_path)
    common = [str(task), "--data-dir", str(tmp_path / "data"), "--split", "dev", "--limit", "8", "--no-cache"]
    served = run_cli(
        "eval", *common, "--model", "openai/served", "--api-base", model_server.base_url,
        "--records", str(tmp_path / "served.jsonl"), cwd=tmp_path,
    )  # fmt: skip
    assert served.returncode == 0, served.stderr
    in_process = run_cli("eval", *common, "--records", str(tmp_path / "local.jsonl"), cwd=tmp_path)
    assert in_process.returncode == 0, in_process.stderr
    over_http, here = _rows(tmp_path / "served.jsonl"), _rows(tmp_path / "local.jsonl")
    assert all(r["status"] != "error" for r in over_http) and all(
        int(r["prompt_tokens"]) > 0 for r in over_http
    )
    same = sum(a["raw"] == b["raw"] for a, b in zip(over_http, here, strict=True))
    assert same >= 7, f"only {same} of 8 answers agree between the server and the in-process model"


def test_a_server_that_is_down_fails_eval_with_exit_7(tmp_path: Path, run_cli: RunCli) -> None:
    task = write_tiny_task(tmp_path)
    down = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    proc = run_cli(
        "eval", str(task), "--data-dir", str(tmp_path / "data"), "--limit", "1", "--no-cache",
        "--model", "openai/served", "--api-base", down, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 7, proc.stderr
    assert "every call failed (1 of 1)" in proc.stderr and "--api-base" in proc.stderr


def test_optimize_stops_on_its_budget_resumes_with_more_and_ships_through_the_server(
    tmp_path: Path, run_cli: RunCli, model_server: ModelServer
) -> None:
    task = write_tiny_task(tmp_path)
    data, run, url = str(tmp_path / "data"), tmp_path / "run", model_server.base_url
    first = run_cli(
        "optimize", str(task), "--data-dir", data, "--model", "openai/served", "--api-base", url,
        "--dev-limit", "8", "--test-limit", "6", "--budget-calls", "24", "--retrievers", "word",
        "--run-dir", str(run), "--no-cache", cwd=tmp_path,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    ended = json.loads((run / "summary.json").read_text())
    assert ended["stop_reason"] == "budget-calls" and ended["calls"] == len(_rows(run / "ledger.jsonl")) <= 24
    assert json.loads((run / "run.json").read_text())["settings"]["api_base"] == url

    same = run_cli("resume", str(run), "--data-dir", data, cwd=tmp_path)
    assert same.returncode == 2 and "would stop it again at once" in same.stderr, same.stderr
    more = run_cli("resume", str(run), "--budget-calls", "50", "--data-dir", data, "--no-cache", cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    rewritten = json.loads((run / "summary.json").read_text())
    assert rewritten["calls"] == len(_rows(run / "ledger.jsonl")) <= 50
    assert rewritten["evaluations"] > ended["evaluations"]
    keys = Counter((r["candidate_id"], r["split"], r["example_id"]) for r in _rows(run / "evaluations.jsonl"))
    assert max(keys.values()) == 1, "an example was scored twice"

    exported = run_cli("export", str(run), "--data-dir", data, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    artifact = run / "export" / "prompt.json"
    assert json.loads(artifact.read_text())["model"]["api_base"] == url
    verified = run_cli("verify", str(artifact), str(task), "--data-dir", data, cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr  # the server gives the run's answers again
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text(
        "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(["note about a", "b"]))
    )
    predicted = run_cli(
        "predict", str(artifact), "--input", str(inputs), "--out", str(tmp_path / "p.jsonl"), cwd=tmp_path
    )
    assert predicted.returncode == 0, predicted.stderr
    assert [r["status"] for r in _rows(tmp_path / "p.jsonl")] != ["error", "error"]
    moved = run_cli(
        "predict",
        str(artifact),
        "--input",
        str(inputs),
        "--api-base",
        f"http://127.0.0.1:{free_port()}/v1",
        cwd=tmp_path,
    )
    assert moved.returncode == 7 and "every call failed (2 of 2)" in moved.stderr, moved.stderr


def test_a_server_that_keeps_failing_stops_optimize_with_exit_7_and_the_run_resumes(
    tmp_path: Path, run_cli: RunCli, model_server: ModelServer
) -> None:
    task = write_tiny_task(tmp_path)
    data, run = str(tmp_path / "data"), tmp_path / "run"
    with FaultProxy(model_server.port, always("503")) as proxy:
        failed = run_cli(
            "optimize", str(task), "--data-dir", data, "--model", "openai/served", "--api-base", proxy.base_url,
            "--dev-limit", "8", "--test-limit", "4", "--max-trials", "2", "--retrievers", "word",
            "--run-dir", str(run), "--no-cache", cwd=tmp_path,
        )  # fmt: skip
    assert failed.returncode == 7, failed.stderr
    assert re.search(r"calls in a row failed|every call failed", failed.stderr), failed.stderr
    assert "ServiceUnavailableError" in failed.stderr
    assert not (run / "summary.json").exists() and proxy.forwarded == 0
    failures = [r for r in _rows(run / "evaluations.jsonl") if r["status"] == "error"]
    assert failures, "the failed calls were not recorded"

    resumed = run_cli(
        "resume",
        str(run),
        "--api-base",
        model_server.base_url,
        "--data-dir",
        data,
        "--no-cache",
        cwd=tmp_path,
    )
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stop_reason"] == "max-trials"
    answered = Counter(
        (r["candidate_id"], r["split"], r["example_id"])
        for r in _rows(run / "evaluations.jsonl")
        if r["status"] != "error"
    )
    assert max(answered.values()) == 1, "an example was answered twice"
    retried = {(r["candidate_id"], r["split"], r["example_id"]) for r in failures}
    assert retried <= set(answered), "a call that failed in the outage was not made again"


def _router_file(path: Path, *bases: str) -> Path:
    deployments = [
        {"model_name": "team", "litellm_params": {"model": "openai/served", "api_base": b, "api_key": "none"}}
        for b in bases
    ]
    path.write_text(
        json.dumps({"model_list": deployments, "router_settings": {"routing_strategy": "simple-shuffle"}})
    )
    return path


def test_a_router_spreads_calls_over_two_servers_and_a_run_survives_losing_one(
    tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    task = write_tiny_task(tmp_path, n_dev=16)
    data, run = str(tmp_path / "data"), tmp_path / "run"
    weights = local.resolve(DEFAULT_LOCAL_MODEL, local.default_models_dir()).path
    with (
        ModelServer(weights, alias="served", threads=1) as one,
        ModelServer(weights, alias="served", threads=1) as two,
        FaultProxy(one.port, always("ok")) as to_one,
        FaultProxy(two.port, always("ok")) as to_two,
    ):
        router = _router_file(tmp_path / "router.json", to_one.base_url, to_two.base_url)
        spread = run_cli(
            "eval", str(task), "--data-dir", data, "--limit", "12", "--model", "team", "--router", str(router),
            "--concurrency", "4", "--no-cache", cwd=tmp_path,
        )  # fmt: skip
        assert spread.returncode == 0, spread.stderr
        assert to_one.forwarded > 0 and to_two.forwarded > 0 and to_one.forwarded + to_two.forwarded == 12

        args = ["optimize", str(task), "--data-dir", data, "--model", "team", "--router", str(router)]
        args += ["--dev-limit", "16", "--test-limit", "8", "--max-trials", "4", "--retrievers", "word"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "promptopt.cli", *args, "--run-dir", str(run), "--no-cache"],
            cwd=tmp_path, env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while len(_rows(run / "ledger.jsonl")) < 12:
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before the kill"
            time.sleep(0.2)
        two.kill()  # one deployment dies mid-run
        _, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr
        exported = run_cli("export", str(run), "--data-dir", data, cwd=tmp_path)
        assert exported.returncode == 0, exported.stderr
        inputs = tmp_path / "inputs.jsonl"
        inputs.write_text(
            "".join(json.dumps({"text": t}) + "\n" for t in ["note 7 about a", "note 8 about b"])
        )
        predicted = run_cli(
            "predict", str(run / "export" / "prompt.json"), "--input", str(inputs), "--router", str(router),
            cwd=tmp_path,
        )  # fmt: skip
        assert predicted.returncode == 0 and "0 failed calls" in predicted.stderr, predicted.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stop_reason"] == "max-trials" and summary["best_test_accuracy"] is not None
    rows = _rows(run / "evaluations.jsonl")
    assert all(r["status"] != "error" for r in rows), "a call was lost with the deployment"
    # a retry goes to the deployment that has not failed: no call (a proposer's included) is lost
    assert all(r["status"] != "error" for r in _rows(run / "ledger.jsonl")), "a call was lost"
    keys = Counter((r["candidate_id"], r["split"], r["example_id"]) for r in rows)
    assert max(keys.values()) == 1
