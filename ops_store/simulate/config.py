"""Simulator settings: what the user asks for and the scale derived from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

DAY = 86_400

# Monday .. Sunday: weekends sell more (the weekend / weekday ratio is about 1.3).
WEEKDAY_FACTORS = (0.95, 0.95, 0.97, 1.0, 1.05, 1.30, 1.25)


@dataclass(frozen=True)
class SimConfig:
    orders: int = 5000
    days: int = 365
    merchants: int | None = None
    seed: int = 42
    end: date = field(default_factory=lambda: datetime.now(UTC).date())
    weekday_factors: tuple[float, ...] = WEEKDAY_FACTORS
    orders_per_customer: float = 5.0
    one_off_share: float = 0.55
    sessions_per_order: float = 2.0  # non-converting sessions per order

    def __post_init__(self) -> None:
        if self.orders < 10:
            raise ValueError("--orders must be at least 10")
        if self.days < 14:
            raise ValueError("--days must be at least 14")
        if self.merchants is not None and not 1 <= self.merchants <= 99:
            raise ValueError("--merchants must be between 1 and 99")

    @property
    def start(self) -> date:
        """The first simulated day; the last one is the day before ``end`` (history as of end, 00:00 UTC)."""
        return self.end - timedelta(days=self.days)

    @property
    def start_at(self) -> datetime:
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)

    @property
    def cutoff(self) -> int:
        """Seconds from the start: nothing happens at or after this moment."""
        return self.days * DAY

    @property
    def n_merchants(self) -> int:
        return self.merchants or max(2, min(20, round(self.orders / 50_000)))

    @property
    def n_customers(self) -> int:
        return max(30, int(self.orders / self.orders_per_customer))

    @property
    def n_products(self) -> int:
        return max(30 * self.n_merchants, min(5000, self.orders // 200))
