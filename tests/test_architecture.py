"""Structure that keeps the codebase honest: layer contracts and a cheap, side-effect-free import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_layer_and_port_contracts_hold() -> None:
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    proc = subprocess.run([lint_imports], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_importing_the_package_loads_no_heavy_library_and_reads_no_env() -> None:
    script = (
        "import os, sys\n"
        "seen = []\n"
        "class Env(dict):\n"
        "    def __getitem__(self, k): seen.append(k); return super().__getitem__(k)\n"
        "    def get(self, k, d=None): seen.append(k); return super().get(k, d)\n"
        "os.environ = Env(os.environ)\n"
        "import promptopt, promptopt.cli\n"
        "heavy = [m for m in ('litellm', 'datasets', 'llama_cpp', 'dspy', 'optuna', 'sklearn') if m in sys.modules]\n"
        "print(heavy, [k for k in seen if k.startswith('PROMPTOPT')])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[] []"


# Each library that has a port is imported directly by exactly these modules (the contracts in
# pyproject.toml also forbid reaching them indirectly from elsewhere).
PORTS = {
    "litellm": {"promptopt.llm.gateway"},
    "llama_cpp": {"promptopt.llm.local.aligned"},
    "sentence_transformers": {"promptopt.llm.embed", "promptopt.llm.classifier"},
    "datasets": {"promptopt.task.load"},
    "pyarrow": {"promptopt.task.load"},
    "optuna": {"promptopt.search.tpe"},
    "matplotlib": {"promptopt.handoff.report.plots"},
    "scipy": {"promptopt.evaluate.paired"},
    "sklearn": {"promptopt.prompt.retrieve", "promptopt.prompt.describe", "promptopt.handoff.finetune.probe"},
}


def test_each_third_party_library_is_imported_only_at_its_port() -> None:
    import grimp

    graph = grimp.build_graph("promptopt", include_external_packages=True)
    found = {library: set(graph.find_modules_that_directly_import(library)) for library in PORTS}
    assert found == PORTS
    cli_only = {"typer", "rich"}
    for library in cli_only:
        importers = graph.find_modules_that_directly_import(library)
        assert importers and all(m.startswith("promptopt.cli.") for m in importers), (library, importers)
