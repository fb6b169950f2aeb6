"""The DSPy export: the source of a Python module that builds a dspy program with the winning
prompt's instruction and demos, read from the artifact written beside it.

Fixed demos become the ``demos`` of a ``dspy.Predict``; retrieved demos are looked up per input
by promptopt's runtime over the artifact's pool (the same neighbours the run used) and passed to
the ``Predict`` call. The generated module never calls ``dspy.configure``: callers choose the LM
with ``dspy.context(lm=...)``. Generating the file does not import dspy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_SOURCE = '''"""DSPy program exported by promptopt from run __RUN__ (candidate __CANDIDATE__).

It has the optimized prompt's instruction and demos (__DEMOS__), read from the artifact beside
this file. DSPy's adapter writes the messages its own way, so scores through DSPy can differ
from the artifact's expected score; `promptopt verify` checks the production path.

    import dspy
    import __MODULE__ as exported

    program = exported.build_program()
    with dspy.context(lm=exported.make_lm()):
        print(program(text="...").label)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import dspy

ARTIFACT = Path(__file__).with_name(__ARTIFACT__)


def read_artifact(path: Path = ARTIFACT) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def instructions(artifact: dict[str, Any]) -> str:
    """The candidate's instruction, with the label descriptions when it shows them."""
    components = artifact["candidate"]["components"]
    lines = [components["instruction"]]
    described = {label: text for label, text in components.get("label_descriptions", [])}
    if components.get("label_style") == "described" and described:
        lines.append("Labels:")
        lines.extend(f"{label} ({described[label]})" if described.get(label) else label
                     for label in artifact["labels"])
    return "\\n".join(lines)


def signature(artifact: dict[str, Any]) -> type[dspy.Signature]:
    labels = tuple(artifact["labels"])
    fields = {"text": (str, dspy.InputField(desc="the input to classify")),
              "label": (Literal[labels], dspy.OutputField(desc="exactly one of the labels"))}
    return dspy.Signature(fields, instructions(artifact))


def example(text: str, label: str) -> dspy.Example:
    return dspy.Example(text=text, label=label).with_inputs("text")


class FixedDemos(dspy.Module):
    """The same demos for every input, in the order the optimized prompt shows them."""

    def __init__(self, artifact: dict[str, Any]) -> None:
        super().__init__()
        self.predict = dspy.Predict(signature(artifact))
        self.predict.demos = [example(d["text"], d["label"]) for d in artifact["demos"].get("examples", [])]

    def forward(self, text: str) -> dspy.Prediction:
        return self.predict(text=text)


class RetrievedDemos(dspy.Module):
    """Demos retrieved per input from the artifact's pool by promptopt's runtime (the
    retriever, k and order of the optimized prompt), most similar last."""

    def __init__(self, artifact: dict[str, Any], path: Path, **load_options: Any) -> None:
        super().__init__()
        import promptopt

        self.runtime = promptopt.load(path, **load_options)
        self.predict = dspy.Predict(signature(artifact))

    def forward(self, text: str) -> dspy.Prediction:
        demos = [example(d.text, d.label) for d in self.runtime.demos(text)]
        return self.predict(text=text, demos=demos)


def build_program(path: Path = ARTIFACT, **load_options: Any) -> dspy.Module:
    """The program. ``load_options`` go to ``promptopt.load`` for retrieved demos (for
    example ``embedder=...``)."""
    artifact = read_artifact(path)
    if artifact["demos"]["strategy"] == "retrieved":
        return RetrievedDemos(artifact, Path(path), **load_options)
    return FixedDemos(artifact)


def make_lm(path: Path = ARTIFACT, **overrides: Any) -> dspy.LM:
    """A ``dspy.LM`` for the artifact's model and temperature (DSPy's cache off). For a
    ``local/`` model, promptopt's in-process llama.cpp provider is registered with LiteLLM."""
    model = read_artifact(path)["model"]
    if str(model["name"]).startswith("local/"):
        from promptopt.production.runtime import register_local_models

        register_local_models()
    return dspy.LM(model["name"], **{"temperature": model["temperature"], "cache": False, **overrides})
'''


def program_source(artifact_name: str, artifact: Mapping[str, Any]) -> str:
    """The module's text; it loads ``artifact_name`` from its own folder."""
    demos = artifact["demos"]
    if demos["strategy"] == "retrieved":
        what = f"{demos['k']} retrieved per input by {demos['retriever']}"
    else:
        what = f"{len(demos.get('examples', []))} fixed"
    module = artifact_name.rsplit(".", 1)[0]
    values = {
        "__RUN__": str(artifact["source"]["run_id"]),
        "__CANDIDATE__": str(artifact["source"]["candidate_id"]),
        "__DEMOS__": what,
        "__MODULE__": module,
        "__ARTIFACT__": repr(artifact_name),
    }
    text = _SOURCE
    for token, value in values.items():
        text = text.replace(token, value)
    return text
