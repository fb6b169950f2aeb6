"""The plain export: a folder a team without Python can ship, derived from the artifact's body
(its ``template`` is cut out of the renderer's own output; nothing here renders a prompt).

- ``request.json``: the OpenAI-compatible chat-completions body the evaluator sends, with the
  placeholders ``{input}`` (and ``{demos}``, ``{labels}``, or a ``{"slot": "demos"}`` message,
  for retrieved demos);
- ``fill.json``: how to fill them, as data (input fields and layout, cuts, the demo retrieval
  and how one demo is written and joined, the narrowed label list);
- ``demos.jsonl``: the retrieval pool (id, text, label), for retrieved demos;
- ``labels.json``: the labels, the output codes and the parse rules, with a lookup table from a
  normalised answer to its label;
- ``README.md``: a generated, task-specific guide;
- ``prompt.json`` (and, for a MiniLM pool, ``prompt.embeddings.npy``): the artifact itself, so
  ``promptopt verify`` and ``promptopt predict`` check what the folder says.

Placeholders are single-brace tokens, and only the exact tokens a string is documented to
hold are ever substituted (``{input}``, ``{demos}``, ``{labels}`` in the request's messages;
``{text}``, ``{answer}`` in one demo); every other brace is literal and nothing is escaped.
:func:`plain_files` refuses a prompt whose own text holds one of its placeholder tokens, so
filling is never ambiguous. The folder is written atomically (:func:`write_folder`).
"""

from __future__ import annotations

import json
import shutil
import string
import uuid
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from promptopt.errors import StoreError, UsageError
from promptopt.prompt.demos import PER_LABEL_POOL
from promptopt.prompt.parse import ANSWER_PREFIX, SEPARATORS, STRIP_CHARS, normalize
from promptopt.prompt.shrink import HEAD_SHARE
from promptopt.run.store import atomic_write_bytes

PLAIN_FORMAT = "promptopt-plain"
PLAIN_VERSION = 1
REQUEST = "request.json"
FILL = "fill.json"
DEMOS = "demos.jsonl"
LABELS = "labels.json"
README = "README.md"
ARTIFACT = "prompt.json"  # the artifact, beside the plain files (its sidecar: prompt.embeddings.npy)
REQUEST_TOKENS = ("input", "demos", "labels")
DEMO_TOKENS = ("text", "answer")
SLOT = {"slot": "demos"}


def plain_files(data: Mapping[str, Any], *, sidecar: str | None = None) -> dict[str, str]:
    """The plain files (name -> text) of the sealed artifact ``data``; ``sidecar``: the name of
    its embeddings file, when it has one. Raises :class:`StoreError` when a placeholder token
    is part of the prompt's own text."""
    template = data["template"]
    spec = template.get("demos") or None
    request = {
        "model": data["model"]["name"],
        "messages": [_message(m, REQUEST_TOKENS) for m in template["messages"]],
        "temperature": data["model"]["temperature"],
        "max_tokens": data["model"]["max_tokens"],
        "seed": data["model"]["seed"],
        "stop": list(data["model"]["stop"]),
    }
    fill = _fill(data, template, sidecar)
    files = {REQUEST: _dumps(request), FILL: _dumps(fill), LABELS: _dumps(_labels(data))}
    if spec is not None:
        files[DEMOS] = "".join(
            json.dumps({"id": r["id"], "text": r["text"], "label": r["label"]}, ensure_ascii=False) + "\n"
            for r in data["demos"]["pool"]
        )
    files[README] = readme(data, request, fill, sidecar)
    return files


def _single(content: str, tokens: Sequence[str], where: str) -> str:
    """``content`` with its ``{{name}}`` placeholders written ``{name}``; a ``{name}`` that is
    text of the prompt (not a placeholder) would be ambiguous, so it is refused."""
    for name in tokens:
        literal = content.count("{" + name + "}") - content.count("{{" + name + "}}")
        if literal:
            raise StoreError(
                f"the prompt's own text ({where}) contains {{{name}}}, which the plain export uses as a"
                " placeholder, so filling it would be ambiguous",
                hint="export with --format json or --format messages (their placeholders are {{input}}-style)",
            )
        content = content.replace("{{" + name + "}}", "{" + name + "}")
    return content


def _message(message: Mapping[str, Any], tokens: Sequence[str]) -> dict[str, Any]:
    if "slot" in message:
        return dict(SLOT)
    where = f"a {message['role']} message"
    return {"role": message["role"], "content": _single(message["content"], tokens, where)}


def _fill(data: Mapping[str, Any], template: Mapping[str, Any], sidecar: str | None) -> dict[str, Any]:
    task = data.get("task") or {}
    cuts = template.get("cuts")
    fill: dict[str, Any] = {
        "format": PLAIN_FORMAT,
        "format_version": PLAIN_VERSION,
        "request": REQUEST,
        "placeholders": [f"{{{t}}}" for t in REQUEST_TOKENS if _holds(template, t)],
        "input": {
            "fields": list(task.get("input_fields") or [task.get("input_field") or "text"]),
            "layout": task.get("layout"),
            "cut": _cut_of(cuts, "input"),
        },
        "cut_rule": None
        if not cuts
        else {
            "chars_per_token": cuts["chars_per_token"],
            "marker": cuts["marker"],
            "ends_head_share": list(_head_share()),
        },
        "demos": _demos_fill(data, template, sidecar),
        "labels": None,
    }
    if template.get("labels"):
        scope = template["labels"]
        fill["labels"] = {"order": list(scope["order"]), "lines": dict(scope["lines"])}
    return fill


def _head_share() -> tuple[int, int]:
    """``ends`` keeps this share of the room from the start: a fraction, so it is exact."""
    share = Fraction(HEAD_SHARE).limit_denominator(100)
    return share.numerator, share.denominator


def _holds(template: Mapping[str, Any], token: str) -> bool:
    return any("{{" + token + "}}" in m.get("content", "") for m in template["messages"])


def _cut_of(cuts: Mapping[str, Any] | None, what: str) -> dict[str, Any] | None:
    if not cuts or not int(cuts[what]["tokens"]):
        return None
    return {"tokens": int(cuts[what]["tokens"]), "mode": cuts[what]["mode"]}


def _demos_fill(
    data: Mapping[str, Any], template: Mapping[str, Any], sidecar: str | None
) -> dict[str, Any] | None:
    spec = template.get("demos")
    if not spec:
        return None
    section = data["demos"]
    pick = section.get("pick", "nearest")
    fill: dict[str, Any] = {
        "pool": DEMOS,
        "pool_size": len(section["pool"]),
        "retriever": section["retriever"],
        "k": section["k"],
        "pick": pick,
        "candidates": PER_LABEL_POOL * int(section["k"]) if pick == "per_label" else int(section["k"]),
        "order": spec["order"],
        "cut": _cut_of(template.get("cuts"), "demos"),
        "answer": "code" if data["output"]["codes"] else "label",
        "layout": spec["layout"],
    }
    if spec["layout"] == "turns":
        fill["messages"] = [_message(m, DEMO_TOKENS) for m in spec["messages"]]
    else:
        fill["item"] = _single(spec["item"], DEMO_TOKENS, "one demo")
        fill["separator"] = _single(spec["separator"], DEMO_TOKENS, "the demo separator")
    if section["retriever"] == "minilm":
        embeddings = section.get("embeddings") or {}
        fill["embeddings"] = {
            "file": sidecar,
            "model": embeddings.get("model"),
            "shape": embeddings.get("shape"),
            "dtype": "float32",
            "normalized": True,
        }
    return fill


def _labels(data: Mapping[str, Any]) -> dict[str, Any]:
    labels = list(data["labels"])
    codes: dict[str, str] | None = data["output"]["codes"]
    answers = {label: code for code, label in codes.items()} if codes else {label: label for label in labels}
    lookup: dict[str, str] = {}
    for label in labels:
        lookup.setdefault(normalize(answers[label]), label)
    return {
        "labels": labels,
        "output_format": data["output"]["format"],
        "codes": codes,
        "answers": answers,
        "parse": {
            "line": "the first line of the answer that is not blank",
            "strip": STRIP_CHARS,
            "prefix": ANSWER_PREFIX.pattern,
            "prefix_ignores_case": True,
            "separators": SEPARATORS.pattern,
            "lookup": lookup,
        },
    }


def _dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# -- the README ---------------------------------------------------------------------------------


def _js(value: str) -> str:
    """A string as JSON, as Markdown code (newlines and quotes stay visible)."""
    text = json.dumps(value, ensure_ascii=False)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def wire_model(name: str) -> str | None:
    """The name an OpenAI-compatible endpoint expects for a LiteLLM model string (the part
    after the provider prefix); None for a ``local/`` model (whatever its server calls it)."""
    if name.startswith("local/"):
        return None
    return name.split("/", 1)[1] if "/" in name else name


def readme(
    data: Mapping[str, Any], request: Mapping[str, Any], fill: Mapping[str, Any], sidecar: str | None
) -> str:
    """The folder's guide, generated from the artifact (``request`` and ``fill`` as written).
    Its steps are numbered as shown (no cut, no retrieval: fewer steps): the sections write
    ``\\0name\\0`` for the number of step ``name``."""
    demos = fill["demos"]
    parts = [
        _intro(data, demos is not None, sidecar),
        _input_section(fill["input"]),
        _cut_section(fill),
        _demos_section(data, fill) if demos is not None else "",
        _fill_section(request, fill),
        _send_section(data, request, fill),
        _answer_section(data),
        _limits_section(demos is not None),
    ]
    text = "\n".join(p for p in parts if p).rstrip() + "\n"
    sections = ["input", "cut", "demos", "fill", "send", "answer"]
    present = [
        name for name in sections if (name != "cut" or fill["cut_rule"]) and (name != "demos" or demos)
    ]
    for number, name in enumerate(present, start=1):  # the steps, numbered as shown
        text = text.replace(f"\0{name}\0", str(number))
    return text


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _intro(data: Mapping[str, Any], retrieved: bool, sidecar: str | None) -> str:
    source, expected, model = data["source"], data["expected"], data["model"]["name"]
    interval = (
        f" (95% interval {_pct(expected['ci_low'])} to {_pct(expected['ci_high'])})"
        if expected.get("ci_low") is not None
        else ""
    )
    lines = [
        f"# {data['task']['name']}: the prompt as plain files",
        "",
        f"The winning prompt of promptopt run `{source['run_id']}` (candidate `{source['candidate_id']}`),"
        " for a team that calls the model without Python. Generated by `promptopt export RUN --format plain`"
        f" (promptopt {data['versions'].get('exported_with', {}).get('promptopt', '?')}).",
        f"In the run it scored {_pct(expected['accuracy'])} accuracy{interval} on {expected['n']} test"
        f" examples with the model `{model}`; another model, or another server for it, can score"
        " differently.",
        "",
        "Files:",
        "",
        f"- `{REQUEST}`: the chat-completions request body promptopt sends, with placeholders (steps \0fill\0-\0send\0)",
        f"- `{FILL}`: how to fill them, as data: input fields, cuts, demos, label list",
    ]
    if retrieved:
        lines.append(
            f'- `{DEMOS}`: the demo pool, one `{{"id", "text", "label"}}` per line, in the order'
            " retrieval uses (step \0demos\0)"
        )
    if sidecar:
        lines.append(
            f"- `{sidecar}`: the pool's sentence embeddings, row i for line i of `{DEMOS}` (step \0demos\0)"
        )
    lines += [
        f"- `{LABELS}`: the labels, the output codes and how an answer is read back into a label (step \0answer\0)",
        f"- `{ARTIFACT}`: the full promptopt artifact, for `promptopt verify` and `promptopt predict`"
        " (you do not need it to send requests)",
        f"- `{README}`: this guide",
        "",
    ]
    return "\n".join(lines)


def _input_section(spec: Mapping[str, Any]) -> str:
    fields, layout = list(spec["fields"]), spec["layout"]
    lines = ["## \0input\0. The input text", ""]
    if layout is not None:
        lines.append(
            f"The text is the layout {_js(layout)} with each `{{field}}` replaced by the row's value of"
            f" that column ({', '.join(f'`{f}`' for f in fields)}): a missing or null value is empty,"
            " any other value is written as text; `{{` and `}}` in the layout are a literal `{` and `}`"
            " (Python's `str.format`)."
        )
        specs = [
            f"`{{{name}{'!' + conv if conv else ''}{':' + fmt if fmt else ''}}}`"
            for _, name, fmt, conv in string.Formatter().parse(layout)
            if name is not None and (fmt or conv)
        ]
        if specs:
            lines.append(
                f"It uses Python format specifications ({', '.join(specs)}): apply them as Python's"
                " `str.format` does."
            )
    elif len(fields) == 1:
        lines.append(f"The text is the row's `{fields[0]}` value, as it is.")
    else:
        lines.append(
            "The text is one line `field: value` per column, in this order: "
            + ", ".join(f"`{f}`" for f in fields)
            + ', joined by a newline (`"\\n"`, none at the end); a missing or null value is empty.'
        )
    lines.append("")
    return "\n".join(lines)


def _cut_section(fill: Mapping[str, Any]) -> str:
    rule = fill["cut_rule"]
    if not rule:
        return ""
    cut_input = fill["input"]["cut"]
    cut_demos = (fill["demos"] or {}).get("cut")
    what = []
    if cut_input:
        what.append(f"the input text to {cut_input['tokens']} tokens (mode `{cut_input['mode']}`)")
    if cut_demos:
        what.append(
            f"each retrieved demo's text to {cut_demos['tokens']} tokens (mode `{cut_demos['mode']}`)"
        )
    per = rule["chars_per_token"]
    num, den = rule["ends_head_share"]
    marker = rule["marker"]
    lines = [
        "## \0cut\0. Cut long texts",
        "",
        f"The prompt cuts {' and '.join(what)}, at {per} characters a token (characters are Unicode"
        ' code points; `rstrip`/`lstrip` remove Unicode whitespace at the end/start; `" "` is the'
        " space character).",
        f"With `marker` = {_js(marker)} (`fill.json` → `cut_rule`):",
        "",
        "```text",
        "cut(text, tokens, mode):",
        f"    limit = tokens * {per}",
        "    if tokens <= 0 or length(text) <= limit: return text",
        "    room = max(1, limit - length(marker))",
        "    if mode == head: return head(text, room) + rstrip(marker)",
        f"    h = head(text, floor(room * {num} / {den}))          # mode == ends",
        "    return h + marker + tail(text, room - length(h))",
        "",
        "head(text, n):   # the first n characters, ending at a word boundary when there is one",
        "    piece = text[0 : n]",
        '    s = index of the last " " in piece (-1 if none)',
        "    if s > floor(n / 2): piece = piece[0 : s]",
        "    return rstrip(piece)",
        "",
        "tail(text, n):   # the last n characters, starting at a word boundary when there is one",
        '    if n <= 0: return ""',
        "    piece = the last n characters of text (all of it when it is shorter)",
        '    s = index of the first " " in piece (-1 if none)',
        "    if 0 <= s < floor(n / 2): piece = piece[s + 1 :]",
        "    return lstrip(piece)",
        "```",
        "",
    ]
    return "\n".join(lines)


_RETRIEVERS = {
    "word": (
        "TF-IDF over words: scikit-learn `TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)`."
        " Lower-case the text; tokens are the matches of `(?u)\\b\\w\\w+\\b` (two or more word"
        " characters); terms are the tokens and the pairs of consecutive tokens (joined by one space)."
    ),
    "char": (
        "TF-IDF over character n-grams inside words: scikit-learn"
        ' `TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)`. Lower-case the'
        " text, split it at whitespace into words, pad each word with one space on both sides, and take"
        " every substring of exactly 3, 4 and 5 characters of each padded word."
    ),
}
_TFIDF = (
    "The vocabulary is the terms of the pool texts ({demos}, fitted on all of them, in file order);"
    " a query term outside it is ignored. Weights: tf = 1 + ln(count), idf = ln((1 + N) / (1 + df)) + 1"
    " (N the pool size, df the number of pool texts holding the term), each vector divided by its"
    " Euclidean length; the similarity is the dot product (cosine)."
)


def _retriever_text(fill: Mapping[str, Any], versions: Mapping[str, Any]) -> str:
    kind = fill["retriever"]
    if kind in _RETRIEVERS:
        sklearn = versions.get("scikit-learn")
        built = f" The run used scikit-learn {sklearn}." if sklearn else ""
        return f"{_RETRIEVERS[kind]}{built} " + _TFIDF.replace("{demos}", f"`{DEMOS}`")
    emb = fill.get("embeddings") or {}
    shape = emb.get("shape") or ["N", "384"]
    return (
        f"sentence embeddings of `sentence-transformers/{emb.get('model') or 'all-MiniLM-L6-v2'}`"
        " (BERT WordPiece tokenizer, uncased; texts truncated to 256 tokens; mean pooling; each vector"
        f" divided by its Euclidean length). The pool's vectors are in `{emb.get('file')}`: NumPy `.npy`"
        f" (version 1: a text header, then {shape[0]} × {shape[1]} little-endian float32 numbers, row by"
        f" row), row i for line i of `{DEMOS}`. Embed each input live with the same model (for example"
        " its ONNX export); the similarity is the dot product (cosine)."
    )


def _demos_section(data: Mapping[str, Any], fill: Mapping[str, Any]) -> str:
    d = fill["demos"]
    k = d["k"]
    lines = [
        "## \0demos\0. Find the demos",
        "",
        f"The prompt shows the {k} pool examples nearest to the input, found per input in `{DEMOS}`"
        f" ({d['pool_size']} examples: the task's train split, in order). This folder holds no code for"
        " that: a stack without Python must reimplement this nearest-neighbour step, exactly as follows"
        " (`fill.json` → `demos` holds the same as data).",
        "",
        f"1. Similarity: {_retriever_text(d, data['versions'])}",
        "2. Rank the pool by similarity, highest first; equal similarities keep the pool's order (a"
        " stable sort).",
    ]
    if d["pick"] == "per_label":
        lines.append(
            f"3. Among the first {d['candidates']}, keep the first example of each label, until {k}"
            " (fewer when those carry fewer labels). These are the neighbours, most similar first."
        )
    else:
        lines.append(f"3. The first {k} are the neighbours, most similar first.")
    step = 4
    if d["cut"]:
        lines.append(
            f"{step}. Cut each neighbour's text with `cut(text, {d['cut']['tokens']}, {d['cut']['mode']})`"
            " (step \0cut\0)."
        )
        step += 1
    answer = (
        f"its output code (`{LABELS}` → `answers`: the label's code)"
        if d["answer"] == "code"
        else "its label, as it is"
    )
    lines.append(f"{step}. A neighbour's `{{answer}}` is {answer}; its `{{text}}` is its text.")
    step += 1
    shown = (
        "Show them most similar last (reverse the list)"
        if d["order"] == "most_similar_last"
        else "Show them most similar first (as found)"
    )
    if d["layout"] == "turns":
        turn = ", ".join(f"`{m['role']}` {_js(m['content'])}" for m in d["messages"])
        lines.append(
            f"{step}. {shown}: each shown demo becomes the messages {turn}, with `{{text}}` and"
            f' `{{answer}}` filled in; together they replace the `{{"slot": "demos"}}` entry of'
            f" `{REQUEST}`'s messages."
        )
    else:
        lines.append(
            f"{step}. {shown}: write each with the item {_js(d['item'])} (`{{text}}` and `{{answer}}`"
            f" filled in) and join them with {_js(d['separator'])}. That is the value of `{{demos}}`."
        )
    step += 1
    if fill["labels"]:
        lines.append(
            f"{step}. `{{labels}}`: the lines of `fill.json` → `labels.lines` for the labels the"
            " neighbours carry, in the task's label order (`labels.order`), joined by a newline"
            " (each label once)."
        )
    lines += [
        "",
        "Ties: promptopt's similarities are floating-point sums, so two pool examples whose"
        " similarities are equal on paper can come out one rounding step apart, in an order another"
        " implementation need not reproduce; where such a tie decides which examples are shown (or"
        " in which order), a reimplementation can show another of the tied examples. Check a sample"
        " against `promptopt predict` (below).",
        "",
    ]
    return "\n".join(lines)


def _fill_section(request: Mapping[str, Any], fill: Mapping[str, Any]) -> str:
    placeholders = list(fill["placeholders"])
    slot = any("slot" in m for m in request["messages"])
    where = [
        f"message {i + 1} (`{m['role']}`)"
        for i, m in enumerate(request["messages"])
        if "content" in m and "{input}" in m["content"]
    ]
    text = "the input text (step \0input\0" + (", cut as step \0cut\0 says)" if fill["input"]["cut"] else ")")
    values = [f"`{{input}}`: {text}"]
    if "{demos}" in placeholders:
        values.append("`{demos}`: the demos (step \0demos\0)")
    if "{labels}" in placeholders:
        values.append("`{labels}`: the neighbours' label lines (step \0demos\0)")
    lines = [
        "## \0fill\0. Fill the request",
        "",
        f"`{REQUEST}`'s message contents hold the placeholder{'s' if len(placeholders) > 1 else ''} "
        + ", ".join(f"`{p}`" for p in placeholders)
        + ('; its `{"slot": "demos"}` entry stands for the demo messages (step \0demos\0)' if slot else "")
        + ". Fill in:",
        "",
        *[f"- {v}" for v in values],
        "",
        (
            "Only these exact tokens are placeholders"
            if len(placeholders) > 1
            else "Only this exact token is a placeholder"
        )
        + (" (in one demo: `{text}` and `{answer}`)" if fill["demos"] else "")
        + ". Every other brace in the prompt is literal text, and nothing is escaped: promptopt checks,"
        " when it writes this folder, that the prompt's own text never contains one of these tokens."
        " Fill in one pass: replace each placeholder of the template, never one inside a value already"
        " put in (an input may itself contain `{input}` or `{demos}`). Replace inside the parsed"
        " message strings, not in the JSON text of the file (the values need JSON escaping).",
    ]
    if placeholders == ["{input}"] and not slot and len(where) == 1:
        lines += [
            "",
            f"Here `{{input}}` is the only placeholder and occurs once, in {where[0]}: one plain string"
            " replacement of `{input}` by the input text (above) gives the exact messages.",
        ]
    lines.append("")
    return "\n".join(lines)


def _send_section(data: Mapping[str, Any], request: Mapping[str, Any], fill: Mapping[str, Any]) -> str:
    name = str(request["model"])
    wire = wire_model(name)
    base = data["model"].get("api_base")
    args = ['--arg input "$INPUT"']
    names = {"{input}": "input", "{demos}": "demos", "{labels}": "labels"}
    used = [names[p] for p in fill["placeholders"]]
    comments = [
        "# INPUT: the input text (step \0input\0"
        + (", cut as step \0cut\0 says)" if fill["input"]["cut"] else ")")
    ]
    if "demos" in used:
        args.append('--arg demos "$DEMOS"')
        comments.append("# DEMOS: the value of {demos} (step \0demos\0)")
    if "labels" in used:
        args.append('--arg labels "$LABELS"')
        comments.append("# LABELS: the value of {labels} (step \0demos\0)")
    slot = any("slot" in m for m in request["messages"])
    if slot:
        args.append('--argjson turns "$TURNS"')
        comments.append("# TURNS: the demo messages as a JSON array (step \0demos\0)")
    if wire is None:
        args.append('--arg model "$MODEL"')
        comments.append("# MODEL: the name your server gives the model")
    table = "{" + ", ".join(f"{u}: ${u}" for u in used) + "}"
    content = f'.content |= gsub("\\\\{{(?<p>{"|".join(used)})\\\\}}"; {table}[.p])'
    each = f'if has("slot") then $turns[] else {content} end' if slot else content
    rename = ".model = $model | " if wire is None else (f'.model = "{wire}" | ' if wire != name else "")
    jq = f"jq {' '.join(args)} \\\n  '{rename}.messages |= [.[] | {each}]' {REQUEST} > body.json"
    lines = [
        "## \0send\0. Send it",
        "",
        f"`model` in `{REQUEST}` is the run's model string, `{name}`.",
    ]
    if wire is None:
        lines.append(
            "promptopt ran this `local/` model inside its own process (llama.cpp). To call it without"
            " Python, serve the same GGUF weights behind an OpenAI-compatible server (llama.cpp's"
            " `llama-server`, or `python -m llama_cpp.server`) and send the name that server gives it."
            " Answers of another engine or build can differ slightly."
        )
    elif wire != name:
        lines.append(
            f"It is a LiteLLM model string; an OpenAI-compatible endpoint expects the part after the"
            f' provider prefix: `"model": "{wire}"`.'
        )
    lines += [
        "The other fields (`temperature`, `max_tokens`, `seed`, `stop`) are the parameters the run's"
        " evaluator sent; keep them.",
        "",
        "With `jq` (1.6 or later) the fill of step \0fill\0 is one command (`gsub` replaces in one pass):",
        "",
        "```sh",
        *comments,
        jq,
        "```",
        "",
        "Then send it:",
        "",
        "```sh",
        f"BASE_URL={base}   # the server the run used" if base else "BASE_URL=https://your-endpoint/v1",
        'curl -sS "$BASE_URL/chat/completions" \\',
        '  -H "Content-Type: application/json" \\',
        '  -H "Authorization: Bearer $API_KEY" \\',
        "  --data @body.json | jq -r '.choices[0].message.content'",
        "```",
        "",
    ]
    return "\n".join(lines)


def _answer_section(data: Mapping[str, Any]) -> str:
    codes = data["output"]["codes"]
    lines = ["## \0answer\0. Read the answer", "", "The answer is `choices[0].message.content`."]
    if codes:
        first = next(iter(codes.items()))
        lines.append(
            f"The prompt asks for a code, not a label (`{first[0]}` for `{first[1]}`, ...); `{LABELS}` →"
            " `codes` maps each code to its label."
        )
    else:
        lines.append(f"The prompt asks for the label itself, one of `{LABELS}` → `labels`.")
    lines += [
        f"To read it back as promptopt does (`{LABELS}` → `parse` holds the pieces):",
        "",
        "1. Take its first line that is not blank (the request stops at a newline anyway).",
        f"2. `stripped`: that line without whitespace at both ends, then without the characters"
        f" {_js(STRIP_CHARS)} at both ends.",
        "3. `normalise(s)`: remove whitespace at both ends, remove those characters at both ends,"
        f" lower-case, replace every run of characters matching `{SEPARATORS.pattern}` by one space,"
        " remove whitespace at both ends.",
        f"4. Look up `normalise(stripped)` in `{LABELS}` → `parse.lookup`; if it is not there, remove from"
        f" `stripped` a leading match of the case-insensitive pattern `parse.prefix`"
        " (`Label:`, `The answer is` ...), remove those characters at both ends again, and look that up"
        " normalised.",
        "5. Found: that is the label. Not found: the answer names no label; promptopt counts it as"
        " invalid (a wrong answer) and never guesses between labels.",
        "",
    ]
    return "\n".join(lines)


def _limits_section(retrieved: bool) -> str:
    lines = [
        "## What promptopt does that these files do not",
        "",
        "- A prompt longer than the model's context window: promptopt drops demos (least similar first)"
        " and then cuts the input when the provider says so, and sends it again; with these files you"
        " get the provider's error instead.",
        "- Retries and timeouts of failed calls are yours to choose.",
    ]
    if retrieved:
        lines.append("- The nearest-neighbour search of step \0demos\0 is yours to implement (see there).")
    lines += [
        "",
        f"To check an implementation, compare its labels with `promptopt predict {ARTIFACT} --input"
        " FILE` on the same inputs, through the same model and server.",
        "",
    ]
    return "\n".join(lines)


# -- writing ------------------------------------------------------------------------------------


def write_folder(target: Path, files: Mapping[str, str | bytes], *, force: bool) -> list[Path]:
    """Write ``files`` (name -> content) as the folder ``target``: built in a temporary folder
    beside it, then renamed into place, so a reader never sees half a folder. An existing
    ``target`` is only replaced with ``force``. Returns the written files."""
    if target.exists() and not force:
        raise UsageError(
            f"{target} already exists; export never overwrites without --force",
            hint="pass --force to replace it, or --out to write elsewhere",
        )
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        staging.mkdir(parents=True)
        for name, content in files.items():
            atomic_write_bytes(
                staging / name, content if isinstance(content, bytes) else content.encode("utf-8")
            )
        _swap(staging, target, force=force)
    except OSError as exc:
        raise StoreError(f"cannot write {target}: {exc}", hint="check free space and permissions") from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return [target / name for name in files]


def _swap(staging: Path, target: Path, *, force: bool) -> None:
    """Rename ``staging`` to ``target``; a ``target`` already there (``force``) is moved aside
    first and removed after."""
    if not target.exists() and not target.is_symlink():
        staging.rename(target)
        return
    if not force:
        raise UsageError(
            f"{target} already exists; export never overwrites without --force",
            hint="pass --force to replace it, or --out to write elsewhere",
        )
    old = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.old"
    target.rename(old)
    try:
        staging.rename(target)
    except OSError:
        old.rename(target)  # put the previous folder back
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)
