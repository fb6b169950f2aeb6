"""Dollars per million classifications for the prompted model and for a fine-tuned small
model, the one-time cost of fine-tuning, and the volume at which it pays back.

Prices come from LiteLLM's price map through promptopt's model port (``PriceFn`` is
:meth:`promptopt.llm.gateway.LiteLLMGateway.price`), or from the user. A local model has no
serving price in the map (its $0 there is the marginal API cost, not the hardware), so it is
unpriced unless the user gives one. LiteLLM's map has no training prices: the one-time cost is
known only when the user gives a training price per million tokens.

Units: tokens per call, dollars per million tokens (``usd_per_mtok``), dollars per million
classifications (``usd_per_million``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from promptopt.errors import UsageError
from promptopt.llm.local.models import is_local

PriceFn = Callable[[str, int, int], float | None]
Status = Literal["met", "not met", "unknown"]
MTOK = 1_000_000
PAYBACK_MONTHS = 12.0


@dataclass(frozen=True)
class Price:
    usd_per_mtok_in: float
    usd_per_mtok_out: float
    source: str


@dataclass(frozen=True)
class GivenPrice:
    """A price the user gave (both or neither)."""

    usd_per_mtok_in: float | None = None
    usd_per_mtok_out: float | None = None

    def check(self, flags: str) -> None:
        values = (self.usd_per_mtok_in, self.usd_per_mtok_out)
        if (values[0] is None) != (values[1] is None):
            raise UsageError(
                f"{flags} go together (seen: {values[0]}, {values[1]})",
                hint="give the input and the output price, in dollars per million tokens",
            )
        if any(v is not None and (v < 0 or not math.isfinite(v)) for v in values):
            raise UsageError(
                f"{flags} must be finite and >= 0 (seen: {values[0]}, {values[1]})",
                hint="dollars per million tokens, e.g. 0.15 and 0.60",
            )


def resolve_price(model: str, given: GivenPrice, price: PriceFn) -> Price | None:
    """The user's price if given, else the map's (None for local or unpriced models)."""
    if given.usd_per_mtok_in is not None and given.usd_per_mtok_out is not None:
        return Price(given.usd_per_mtok_in, given.usd_per_mtok_out, "given by the user")
    if is_local(model):
        return None
    per_in, per_out = price(model, MTOK, 0), price(model, 0, MTOK)
    if per_in is None or per_out is None:
        return None
    return Price(per_in, per_out, f"LiteLLM price map: {model}")


def fine_tuned_name(target: str) -> str:
    """The price-map name of a fine-tuned ``target``: ``ft:<base model>``."""
    bare = target.split("/", 1)[1] if target.startswith("openai/") else target
    return bare if bare.startswith("ft:") else f"ft:{bare}"


@dataclass(frozen=True)
class PerCall:
    """Tokens per classification (one call)."""

    prompt_tokens: float
    completion_tokens: float

    def usd_per_million(self, price: Price) -> float:
        return self.prompt_tokens * price.usd_per_mtok_in + self.completion_tokens * price.usd_per_mtok_out


@dataclass(frozen=True)
class Side:
    """One way of serving the task: a model, its tokens per call (measured or estimated) and
    its price (None = unpriced)."""

    model: str
    per_call: PerCall
    measured: bool
    price: Price | None

    @property
    def usd_per_million(self) -> float | None:
        return None if self.price is None else self.per_call.usd_per_million(self.price)


@dataclass(frozen=True)
class Training:
    """The fine-tuning job: training tokens per epoch (estimated), epochs, and the user's
    training price (dollars per million training tokens; None = not given)."""

    tokens_per_epoch: float
    epochs: int
    usd_per_mtok: float | None

    @property
    def one_time_usd(self) -> float | None:
        if self.usd_per_mtok is None:
            return None
        return self.tokens_per_epoch * self.epochs * self.usd_per_mtok / MTOK


@dataclass(frozen=True)
class Economics:
    prompted: Side
    fine_tuned: Side
    training: Training
    monthly_volume: int

    @property
    def saving_per_million(self) -> float | None:
        a, b = self.prompted.usd_per_million, self.fine_tuned.usd_per_million
        return None if a is None or b is None else a - b

    @property
    def monthly_saving(self) -> float | None:
        saving = self.saving_per_million
        return None if saving is None else saving * self.monthly_volume / MTOK

    @property
    def break_even_volume(self) -> float | None:
        """Classifications needed to recover the one-time cost (inf when nothing is saved)."""
        saving, cost = self.saving_per_million, self.training.one_time_usd
        if saving is None or cost is None:
            return None
        return math.inf if saving <= 0 else cost / saving * MTOK

    @property
    def break_even_months(self) -> float | None:
        volume = self.break_even_volume
        return None if volume is None else volume / self.monthly_volume

    @property
    def affordable_training_usd(self) -> float | None:
        """The most a fine-tuning job may cost and still pay back within PAYBACK_MONTHS."""
        monthly = self.monthly_saving
        return None if monthly is None else max(monthly, 0.0) * PAYBACK_MONTHS

    def cost_status(self) -> tuple[Status, str]:
        """Met when the fine-tuned model is cheaper per classification and (when the training
        price is known) pays back within PAYBACK_MONTHS at the monthly volume."""
        saving = self.saving_per_million
        if saving is None:
            missing = [s.model for s in (self.prompted, self.fine_tuned) if s.price is None]
            return "unknown", f"no price for {', '.join(missing)}"
        if saving <= 0:
            return "not met", "the fine-tuned model would cost as much or more per classification"
        months = self.break_even_months
        if months is None:
            return "met", (
                f"cheaper per classification; pays back within {PAYBACK_MONTHS:.0f} months "
                f"if the fine-tuning job costs under ${self.affordable_training_usd:,.2f}"
            )
        if months <= PAYBACK_MONTHS:
            return "met", f"pays back in {months:.1f} months"
        return "not met", f"pays back only after {months:.1f} months (> {PAYBACK_MONTHS:.0f})"
