"""A LiteLLM Router configuration (``--router FILE``): several deployments behind one model name.

The file is LiteLLM's own: a ``model_list`` of deployments, each a ``model_name`` (the name
promptopt's ``--model`` uses) and the ``litellm_params`` of one deployment (``model``,
``api_base``, ``api_key``, ``rpm``, ``tpm``, ...), and optional ``router_settings`` passed to
``litellm.Router`` as they are (``routing_strategy``, ``num_retries``, ``fallbacks``,
``allowed_fails``, ``cooldown_time``, ...). JSON or YAML. Reading it makes no call.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptopt.errors import UsageError


@dataclass(frozen=True)
class RouterConfig:
    path: Path
    model_list: tuple[Mapping[str, Any], ...]
    settings: Mapping[str, Any] = field(default_factory=dict)

    def names(self) -> set[str]:
        """The model names the router answers (each may have several deployments)."""
        return {str(d["model_name"]) for d in self.model_list}

    def deployments(self, name: str) -> list[Mapping[str, Any]]:
        return [d for d in self.model_list if d["model_name"] == name]

    def fingerprint(self, name: str) -> str:
        """What identifies the weights behind ``name``: its deployments' models and servers
        (keys left out), for the completion cache."""
        served = sorted(
            f"{d['litellm_params'].get('model')}@{d['litellm_params'].get('api_base', '')}"
            for d in self.deployments(name)
        )
        return "router=" + hashlib.sha256("\n".join(served).encode()).hexdigest()[:16]


def load_router_config(path: Path) -> RouterConfig:
    """Read and check a Router file; every problem is a UsageError that names the file."""
    fix = "see docs/models.md for a Router file (model_list of model_name + litellm_params)"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the router file {path}: {exc}", hint=fix) from exc
    data = _parse(path, text, fix)
    if not isinstance(data, dict) or not isinstance(data.get("model_list"), list) or not data["model_list"]:
        raise UsageError(f"router file {path} has no model_list (a list of deployments)", hint=fix)
    for i, deployment in enumerate(data["model_list"]):
        params = deployment.get("litellm_params") if isinstance(deployment, dict) else None
        if not isinstance(deployment, dict) or "model_name" not in deployment or not isinstance(params, dict):
            raise UsageError(
                f"router file {path}: deployment {i} needs model_name and litellm_params (seen: {deployment!r})",
                hint=fix,
            )
        if "model" not in params:
            raise UsageError(
                f"router file {path}: deployment {i} ({deployment['model_name']}) has no litellm_params.model",
                hint="name the provider's model, e.g. model: openai/served with api_base: http://host:8000/v1",
            )
    settings = data.get("router_settings") or {}
    if not isinstance(settings, dict):
        raise UsageError(
            f"router file {path}: router_settings must be a mapping (seen: {settings!r})", hint=fix
        )
    return RouterConfig(path=path, model_list=tuple(data["model_list"]), settings=settings)


def _parse(path: Path, text: str, fix: str) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"router file {path} is not valid JSON: {exc}", hint=fix) from exc
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"router file {path} is not valid YAML: {exc}", hint=fix) from exc
