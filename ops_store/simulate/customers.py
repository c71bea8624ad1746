"""Customers acquired over time across countries, regions and channels, with heterogeneous repeat
behaviour (many one-off buyers, some loyal ones) and churn, and lasting tastes (one or two
favourite categories and how strongly they stick to them); synthetic personal data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ops_store.simulate.calendar import Calendar
from ops_store.simulate.catalog import CATEGORIES, Catalog
from ops_store.simulate.config import SimConfig

COUNTRIES = (
    ("US", ("Northeast", "South", "Midwest", "West"), 0.45),
    ("DE", ("Bavaria", "Berlin", "Hamburg", "Saxony"), 0.2),
    ("GB", ("London", "Scotland", "North West", "Wales"), 0.15),
    ("FR", ("Ile-de-France", "Occitanie", "Bretagne"), 0.12),
    ("NL", ("Noord-Holland", "Utrecht"), 0.08),
)
CHANNELS = ("web", "mobile_app", "marketplace", "phone")
CHANNEL_SHARE = (0.5, 0.3, 0.15, 0.05)
FIRST = ("Ada", "Ben", "Chloe", "David", "Eva", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kira", "Liam",
         "Mia", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wim", "Yara")
# Taste strength ~ Beta(a, b): the share of a customer's basket lines drawn from their favourite
# categories (mean a / (a + b) = 0.6). A second favourite category with this probability.
TASTE_BETA = (3.0, 2.0)
SECOND_FAVOURITE_SHARE = 0.4
LAST = ("Smith", "Muller", "Jones", "Martin", "Jansen", "Garcia", "Brown", "Schmidt", "Dubois", "de Vries",
        "Taylor", "Fischer", "Moreau", "Bakker", "Wilson", "Weber")


@dataclass
class Customers:
    acquired: np.ndarray  # day of the first order (sorted ascending)
    churn: np.ndarray  # first day without repeat purchases
    rate: np.ndarray  # repeat orders per day at seasonal weight 1 (0 = one-off buyer)
    country: np.ndarray
    region: list[str]
    channel: np.ndarray
    merchant: np.ndarray  # preferred merchant
    day_start: np.ndarray  # index of the first customer acquired on each day (len days + 1)
    favourite: np.ndarray  # (n, 2) favourite category indexes into CATEGORIES (-1 = no second one)
    taste: np.ndarray  # probability that a basket line comes from the favourite categories

    @property
    def n(self) -> int:
        return len(self.acquired)

    def ref(self, i: int) -> str:
        return f"SIM-C{i + 1:07d}"


def build_customers(cfg: SimConfig, cal: Calendar, cat: Catalog, rng: np.random.Generator,
                    taste_rng: np.random.Generator) -> Customers:
    n = cfg.n_customers
    acq_p = cal.weight / cal.weight.sum()
    acquired = np.sort(rng.choice(cfg.days, size=n, p=acq_p))
    country = rng.choice(len(COUNTRIES), size=n, p=[c[2] for c in COUNTRIES])
    region = [COUNTRIES[c][1][int(r * len(COUNTRIES[c][1]))] for c, r in zip(country, rng.random(n), strict=True)]
    channel = rng.choice(len(CHANNELS), size=n, p=CHANNEL_SHARE)
    merchant = rng.choice(cat.merchant_code.__len__(), size=n, p=cat.merchant_weight)
    repeater = rng.random(n) >= cfg.one_off_share
    raw = np.where(repeater, rng.gamma(0.9, 1.0, n), 0.0)
    churn = np.minimum(acquired + 1 + rng.exponential(320.0, n).astype(np.int64), cfg.days)
    # Scale the rates so that first orders + expected repeats = the orders asked for.
    cum = np.concatenate([[0.0], np.cumsum(cal.weight)])
    exposure = cum[churn] - cum[np.minimum(acquired + 1, cfg.days)]
    expected = float((raw * np.maximum(exposure, 0)).sum())
    scale = max(cfg.orders - n, 0) / expected if expected > 0 else 0.0
    day_start = np.searchsorted(acquired, np.arange(cfg.days + 1))
    favourite, taste = build_tastes(cat, merchant, taste_rng)
    return Customers(acquired, churn, raw * scale * 1.03, country, region, channel, merchant, day_start,
                     favourite, taste)


def _draw_rows(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per row, a column drawn with probability proportional to that row's weights (rows sum > 0)."""
    cdf = np.cumsum(weights, axis=1)
    pick = (cdf <= (u * cdf[:, -1])[:, None]).sum(axis=1)
    return np.minimum(pick, weights.shape[1] - 1)


def build_tastes(cat: Catalog, merchant: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Favourite categories among those the customer's preferred merchant sells, drawn with their
    popularity there (so a category's fans match its share of sales), a second one for some customers
    when the merchant sells more than two, and a Beta-distributed taste strength."""
    n, nc = len(merchant), len(CATEGORIES)
    mass = np.zeros((len(cat.merchant_code), nc))
    np.add.at(mass, (cat.merchant, cat.category), cat.popularity)
    w = mass[merchant]
    first = _draw_rows(w, rng.random(n))
    w[np.arange(n), first] = 0.0
    second = _draw_rows(np.where(w.sum(axis=1, keepdims=True) > 0, w, 1.0), rng.random(n))
    two = (rng.random(n) < SECOND_FAVOURITE_SHARE) & ((w > 0).sum(axis=1) >= 2)  # >= 3 categories sold
    favourite = np.stack([first, np.where(two, second, -1)], axis=1).astype(np.int64)
    taste = rng.beta(*TASTE_BETA, n)
    return favourite, taste


def pii_rows(cust: Customers, cipher, seed: int):  # type: ignore[no-untyped-def]
    """Per customer: (name_enc, email_enc, phone_enc, email_bidx, phone_bidx, street_enc)."""
    rng = np.random.default_rng(seed + 7)
    first = rng.integers(0, len(FIRST), cust.n)
    last = rng.integers(0, len(LAST), cust.n)
    house = rng.integers(1, 300, cust.n)
    for i in range(cust.n):
        f, la = FIRST[first[i]], LAST[last[i]]
        email = f"{f}.{la.replace(' ', '')}.{i + 1}@example.com".lower()
        phone = f"+1555{i + 1:07d}"
        yield (cipher.encrypt(f"{f} {la}"), cipher.encrypt(email), cipher.encrypt(phone), cipher.email_index(email),
               cipher.phone_index(phone), cipher.encrypt(f"{house[i]} Market Street"))
