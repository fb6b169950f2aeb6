"""The chat messages template of a candidate, with placeholders, derived from the renderer
itself (never re-written by hand), and the function that fills it.

Placeholders (filled in one pass, so a value is never re-substituted):

- ``{{input}}``: the text to classify;
- ``{{demos}}``: retrieved demos shown as one block: each demo written with ``demos.item``,
  joined with ``demos.separator``;
- a message ``{"slot": "demos"}``: retrieved demos shown as chat turns, each demo written with
  the messages of ``demos.messages``;
- ``{{text}}`` / ``{{answer}}`` inside a demo: the demo's text, and its label as the model must
  write it (its output code when the output format is ``code``).

``demos.order`` says how retrieved neighbours are shown: ``most_similar_last`` or
``most_similar_first``. Fixed demos are already written into the messages.

- ``{{labels}}``: with a narrowed label list (``labels.scope == "neighbours"``), the lines of
  ``labels.lines`` for the labels the retrieved neighbours carry, in ``labels.order``, joined
  with newlines.

``cuts`` (when the prompt cuts texts): cut the input to ``input.tokens`` tokens and each
retrieved demo's text to ``demos.tokens`` tokens, at ``chars_per_token`` characters a token,
keeping the head (``mode: head``) or the head and the end (``ends``), joined by ``marker``, as
:func:`promptopt.prompt.shrink.cut` does; :func:`fill` applies them.

The template of a retrieved candidate is derived by rendering it with marker demos and a marker
input, then cutting the result at the markers, so it is whatever :func:`promptopt.prompt.render.render`
writes, and :func:`fill` reproduces ``render`` exactly (the exporter checks it on every export).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from promptopt.prompt.candidate import Candidate
from promptopt.prompt.render import SCOPE_HEAD, SCOPE_TAIL, Message, label_line, render, system_message
from promptopt.prompt.shrink import CHARS_PER_TOKEN, ELLIPSIS, cut
from promptopt.task.spec import Example

INPUT = "{{input}}"
DEMOS = "{{demos}}"
TEXT = "{{text}}"
ANSWER = "{{answer}}"
LABELS = "{{labels}}"
_PLACEHOLDER = re.compile(r"\{\{(input|demos|text|answer|labels)\}\}")

_MARK_INPUT = "\x00input\x00"
_MARK_TEXTS = ("\x00text-1\x00", "\x00text-2\x00")
_MARK_ANSWERS = ("\x00answer-1\x00", "\x00answer-2\x00")

Template = dict[str, Any]


def messages_template(
    candidate: Candidate, labels: Sequence[str], fixed_demos: Sequence[Example]
) -> Template:
    """``{"messages": [...], "demos": None | {...}}`` for ``candidate`` (see the module doc),
    with ``labels`` and ``cuts`` when the prompt narrows its label list or cuts texts."""
    template = _template(candidate, labels, fixed_demos)
    if candidate.label_scope == "neighbours":
        template["labels"] = {
            "scope": "neighbours",
            "order": list(labels),
            "lines": {
                label: label_line(candidate, label, dict(candidate.label_descriptions)) for label in labels
            },
        }
    retrieved = candidate.demo_strategy == "retrieved"
    if candidate.input_tokens or (retrieved and candidate.demo_tokens):
        template["cuts"] = {
            "input": {"tokens": candidate.input_tokens, "mode": candidate.input_cut},
            "demos": {"tokens": candidate.demo_tokens if retrieved else 0, "mode": "head"},
            "chars_per_token": CHARS_PER_TOKEN,
            "marker": ELLIPSIS,
        }
    return template


def _template(candidate: Candidate, labels: Sequence[str], fixed_demos: Sequence[Example]) -> Template:
    """The messages with placeholders, rendered with nothing cut (:func:`fill` cuts)."""
    whole = replace(candidate, input_tokens=0, input_cut="head")
    if candidate.demo_strategy != "retrieved":
        return {"messages": render(whole, labels, fixed_demos, INPUT), "demos": None}
    # with marker labels, the answer is the marker; demos are cut by fill, not here
    marked = replace(whole, output_format="label", demo_tokens=0)
    one = _unscope(render(marked, _MARK_ANSWERS, [_marker(0)], _MARK_INPUT), _MARK_ANSWERS[:1])
    two = _unscope(render(marked, _MARK_ANSWERS, [_marker(0), _marker(1)], _MARK_INPUT), _MARK_ANSWERS)
    system = {"role": "system", "content": system_message(candidate, labels)}
    order = "most_similar_last" if _first_shown(two) == 0 else "most_similar_first"
    if candidate.demo_layout == "turns":
        turns = [_unmark(m, 0) for m in one[1:-1]]
        return {
            "messages": [system, {"slot": "demos"}, _unmark(one[-1], 0)],
            "demos": {"layout": "turns", "messages": turns, "order": order},
        }
    return _block_template(system, one[-1], two[-1], order)


def _unscope(messages: list[Message], answers: Sequence[str]) -> list[Message]:
    """The narrowed label list of marker demos replaced by the ``{{labels}}`` placeholder."""
    scoped = SCOPE_HEAD + "\n".join(answers) + SCOPE_TAIL
    unscoped = SCOPE_HEAD + LABELS + SCOPE_TAIL
    return [{"role": m["role"], "content": m["content"].replace(scoped, unscoped)} for m in messages]


def _marker(i: int) -> Example:
    return Example(f"marker-{i}", _MARK_TEXTS[i], _MARK_ANSWERS[i])


def _spans(content: str, i: int) -> tuple[int, int]:
    """Where demo ``i`` starts and ends in ``content`` (its first and last marker)."""
    found = [
        (content.find(m), content.find(m) + len(m))
        for m in (_MARK_TEXTS[i], _MARK_ANSWERS[i])
        if m in content
    ]
    if not found:
        raise ValueError(f"demo marker {i} was not rendered")
    return min(s for s, _ in found), max(e for _, e in found)


def _first_shown(messages: Sequence[Message]) -> int:
    joined = "\n".join(m["content"] for m in messages[1:])
    return 0 if _spans(joined, 0)[0] < _spans(joined, 1)[0] else 1


def _block_template(system: Message, one: Message, two: Message, order: str) -> Template:
    """Cut ``one`` (a single demo) into prefix + item + suffix, and ``two`` gives the text
    between two items; then prefix + join(separator, items) + suffix is the message."""
    start, end = _spans(one["content"], 0)
    first = 0 if order == "most_similar_last" else 1
    separator = two["content"][_spans(two["content"], first)[1] : _spans(two["content"], 1 - first)[0]]
    prefix, item, suffix = one["content"][:start], one["content"][start:end], one["content"][end:]
    # text written before (after) every demo reads better inside the item than split between
    # the prefix (suffix) and the separator; whitespace stays with the separator
    head = _common_suffix(prefix, separator).lstrip()
    tail = _common_prefix(suffix, separator[: len(separator) - len(head)]).rstrip()
    prefix, suffix = prefix[: len(prefix) - len(head)], suffix[len(tail) :]
    separator, item = separator[len(tail) : len(separator) - len(head)], head + item + tail
    content = (prefix + DEMOS + suffix).replace(_MARK_INPUT, INPUT)
    item = _unmark({"role": "", "content": item}, 0)["content"]
    return {
        "messages": [system, {"role": one["role"], "content": content}],
        "demos": {"layout": "block", "item": item, "separator": separator, "order": order},
    }


def _common_suffix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[len(a) - 1 - n] == b[len(b) - 1 - n]:
        n += 1
    return b[len(b) - n :]


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return b[:n]


def _unmark(message: Message, i: int) -> Message:
    content = (
        message["content"]
        .replace(_MARK_TEXTS[i], TEXT)
        .replace(_MARK_ANSWERS[i], ANSWER)
        .replace(_MARK_INPUT, INPUT)
    )
    return {"role": message["role"], "content": content}


def fill(template: Mapping[str, Any], text: str, neighbours: Sequence[tuple[str, str]] = ()) -> list[Message]:
    """The messages for ``text``. ``neighbours``: (text, answer) of the retrieved demos, most
    similar first (ignored when the template has no demo slot)."""
    spec: Mapping[str, Any] = template.get("demos") or {}
    text, neighbours = _cut(template.get("cuts"), text, neighbours)
    shown = list(neighbours) if spec.get("order") == "most_similar_first" else list(reversed(neighbours))
    scope: Mapping[str, Any] = template.get("labels") or {}
    answers = {a for _, a in neighbours}
    listed = "\n".join(scope["lines"][label] for label in scope.get("order", ()) if label in answers)
    block = ""
    if spec.get("layout") == "block":
        block = spec["separator"].join(_sub_text(spec["item"], {"text": t, "answer": a}) for t, a in shown)
    messages: list[Message] = []
    for message in template["messages"]:
        if "slot" in message:
            messages.extend(
                _sub(turn, {"text": t, "answer": a}) for t, a in shown for turn in spec["messages"]
            )
        else:
            messages.append(_sub(message, {"input": text, "demos": block, "labels": listed}))
    return messages


def _cut(
    cuts: Mapping[str, Any] | None, text: str, neighbours: Sequence[tuple[str, str]]
) -> tuple[str, Sequence[tuple[str, str]]]:
    """The input and the demos' texts cut as the template's ``cuts`` say (none: as they are)."""
    if not cuts:
        return text, neighbours
    text = cut(text, int(cuts["input"]["tokens"]), cuts["input"]["mode"])
    tokens = int(cuts["demos"]["tokens"])
    return text, [(cut(t, tokens), a) for t, a in neighbours]


def _sub(message: Mapping[str, str], values: Mapping[str, str]) -> Message:
    return {"role": message["role"], "content": _sub_text(message["content"], values)}


def _sub_text(content: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), content)
