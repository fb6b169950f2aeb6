"""The embedded local models, run in-process by llama.cpp.

- :mod:`.models`: the packaged GGUF models (assembled from PyPI packages, sha256-verified);
- :mod:`.engine`: the engine (one ``Llama`` per file, one call at a time);
- :mod:`.aligned`: aligned KV reuse (reproducible answers; kept prompt prefixes).

The names most callers need are re-exported here; none of these modules imports llama.cpp
before a model is loaded.
"""

from promptopt.llm.local.engine import N_CTX, EngineResult, LlamaEngine
from promptopt.llm.local.models import (
    DEFAULT_LOCAL_MODEL,
    PACKAGED,
    PREFIX,
    LocalFile,
    PackagedModel,
    default_models_dir,
    is_local,
    is_verified,
    prepare,
    resolve,
)

__all__ = [
    "DEFAULT_LOCAL_MODEL",
    "N_CTX",
    "PACKAGED",
    "PREFIX",
    "EngineResult",
    "LlamaEngine",
    "LocalFile",
    "PackagedModel",
    "default_models_dir",
    "is_local",
    "is_verified",
    "prepare",
    "resolve",
]
