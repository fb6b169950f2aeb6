"""Aligned KV reuse: a llama.cpp ``Llama`` whose answers do not depend on what it evaluated
before, which still reuses the KV cache of the shared prompt prefix, and keeps the KV states of
the last few distinct prefixes for callers that alternate prompts.

Prompts are evaluated in chunks that start at multiples of :data:`ALIGN` and at the start of the
per-input part (see :func:`schedule`): reproducible answers, shared prefix reused.
"""

from __future__ import annotations

import ctypes
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

ALIGN = 64
# KV states of this many distinct shared prefixes are kept (about 12 KB per token for the
# 0.5B model: 18 MB for a 1,500-token prefix); shorter prefixes are cheap to evaluate again.
PREFIX_SLOTS = 4
MIN_SNAPSHOT_TOKENS = 2 * ALIGN
SEEN_PREFIXES = 256  # prefixes remembered (by hash) to tell a returning one from a new one


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


def aligned_llama_class() -> Any:
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
                    template=self.metadata["tokenizer.chat_template"],
                    eos_token=self._model.token_get_text(eos) if eos != -1 else "",
                    bos_token=self._model.token_get_text(bos) if bos != -1 else "",
                    stop_token_ids=[eos],
                )
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
                return self.create_completion(
                    prompt=tokens, top_k=1 if params["temperature"] == 0 else 40, **params
                )
            except Exception:
                self._starts, self.n_tokens = (0,), 0  # state unknown: start cold next time
                raise

        def generate(self, tokens: Any, *args: Any, **kwargs: Any) -> Any:
            tokens = list(tokens)
            boundary = getattr(self, "_boundary", 0)
            starts = schedule(len(tokens), boundary, ALIGN)
            limit = len(tokens) - 1
            keep = reusable_prefix(
                list(self._starts), starts, min(common_length(self._input_ids, tokens), limit)
            )
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
