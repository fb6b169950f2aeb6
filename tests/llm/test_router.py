"""Router files (``--router``): LiteLLM's model_list read and checked before any call, with a
clear error for each kind of bad file; a routed name needs no key of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptopt.errors import UsageError
from promptopt.llm.gateway import LiteLLMGateway
from promptopt.llm.router import load_router_config

YAML = """model_list:
  - model_name: team
    litellm_params: {model: openai/served, api_base: "http://10.0.0.1:8000/v1", api_key: none, rpm: 60}
  - model_name: team
    litellm_params: {model: openai/served, api_base: "http://10.0.0.2:8000/v1", api_key: none}
router_settings: {routing_strategy: simple-shuffle, num_retries: 1}
"""


def test_a_router_file_reads_its_deployments_and_settings(tmp_path: Path) -> None:
    path = tmp_path / "router.yaml"
    path.write_text(YAML)
    config = load_router_config(path)
    assert config.names() == {"team"} and len(config.deployments("team")) == 2
    assert config.settings == {"routing_strategy": "simple-shuffle", "num_retries": 1}
    other = tmp_path / "other.yaml"
    other.write_text(YAML.replace("10.0.0.2", "10.0.0.3").replace("api_key: none", "api_key: secret"))
    assert config.fingerprint("team") != load_router_config(other).fingerprint("team")  # servers, not keys
    gateway = LiteLLMGateway(router=config)
    gateway.check("team", env={})  # the file carries each deployment's key
    assert gateway.fingerprint("team") == config.fingerprint("team") and gateway.price("team", 10, 1) is None


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("r.json", "{not json", "is not valid JSON"),
        ("r.yaml", "model_list: [unclosed", "is not valid YAML"),
        ("r.yaml", "router_settings: {}\n", "has no model_list"),
        ("r.yaml", "model_list:\n  - litellm_params: {model: openai/x}\n", "deployment 0 needs model_name"),
        (
            "r.yaml",
            "model_list:\n  - model_name: t\n    litellm_params: {api_base: http://h/v1}\n",
            "no litellm_params.model",
        ),
        (
            "r.yaml",
            "model_list:\n  - {model_name: t, litellm_params: {model: a/b}}\nrouter_settings: [1]\n",
            "must be a mapping",
        ),
    ],
)
def test_a_bad_router_file_is_refused_with_what_is_wrong(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UsageError, match=message) as info:
        load_router_config(path)
    assert str(path) in str(info.value) and info.value.hint


def test_a_missing_router_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read the router file"):
        load_router_config(tmp_path / "nope.yaml")
