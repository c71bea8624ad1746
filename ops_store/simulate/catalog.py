"""Merchants, warehouses, suppliers, carriers and delivery options, products (prices, costs,
popularity, launches, retirements, price changes) and the planted basket affinities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ops_store.simulate.config import SimConfig

# name, price low, price high, gross margin, return rate
CATEGORIES = (
    ("electronics", 40.0, 800.0, 0.18, 0.09),
    ("fashion", 15.0, 120.0, 0.55, 0.22),
    ("home", 10.0, 220.0, 0.40, 0.06),
    ("beauty", 5.0, 60.0, 0.60, 0.03),
    ("sports", 15.0, 250.0, 0.35, 0.08),
    ("books", 5.0, 40.0, 0.30, 0.02),
    ("toys", 8.0, 90.0, 0.45, 0.05),
    ("grocery", 2.0, 25.0, 0.25, 0.01),
)
WAREHOUSES = (("sim-wh-east", "East fulfilment centre", 10), ("sim-wh-west", "West fulfilment centre", 20),
              ("sim-wh-central", "Central fulfilment centre", 30))
# code, name, delay rate, delay days (low, high)
CARRIERS = (("sim-fastship", "FastShip", 0.04, (1, 3)), ("sim-parcelco", "ParcelCo", 0.12, (1, 4)),
            ("sim-budgetpost", "BudgetPost", 0.25, (2, 6)))
# code, kind, name, carrier index, price cents, promised days, transit days (low, high), choice weight
DELIVERY_OPTIONS = (
    ("sim-express", "express", "Express (FastShip)", 0, 1299, 3, (1, 1), 0.15),
    ("sim-standard-pc", "standard", "Standard (ParcelCo)", 1, 499, 6, (2, 3), 0.40),
    ("sim-standard-bp", "standard", "Economy (BudgetPost)", 2, 299, 7, (2, 4), 0.35),
    ("sim-pickup", "pickup", "Pick-up point (ParcelCo)", 1, 0, 6, (2, 3), 0.10),
)
CURRENCIES = (("USD", 800), ("EUR", 1900), ("GBP", 2000))  # currency, tax rate in basis points
ADJECTIVES = ("Classic", "Smart", "Eco", "Pro", "Mini", "Deluxe", "Urban", "Nordic", "Vivid", "Pure")
NOUNS = {"electronics": "Gadget", "fashion": "Jacket", "home": "Lamp", "beauty": "Serum", "sports": "Racket",
         "books": "Novel", "toys": "Puzzle", "grocery": "Tea"}


@dataclass
class Catalog:
    merchant_code: list[str]
    merchant_currency: list[str]
    merchant_tax_bp: np.ndarray
    merchant_warehouse: np.ndarray  # preferred warehouse index
    merchant_weight: np.ndarray  # share of new customers
    supplier_merchant: np.ndarray
    supplier_lead: np.ndarray
    # products
    merchant: np.ndarray
    category: np.ndarray  # index into CATEGORIES
    sku: list[str]
    name: list[str]
    base_price: np.ndarray  # cents
    change_day: np.ndarray  # day of the one price change (days = none)
    change_factor: np.ndarray
    cost: np.ndarray  # catalog unit cost, 1/10000
    popularity: np.ndarray
    launch: np.ndarray
    retire: np.ndarray  # day it stops selling (days = never)
    supplier: np.ndarray
    partner: np.ndarray  # planted affinity partner (-1 none)
    partner_prob: np.ndarray
    warehouse: np.ndarray

    @property
    def n(self) -> int:
        return len(self.sku)

    def price_on(self, products: np.ndarray, day: int) -> np.ndarray:
        changed = day >= self.change_day[products]
        factor = np.where(changed, self.change_factor[products], 1.0)
        return np.round(self.base_price[products] * factor).astype(np.int64)

    def final_price(self, days: int) -> np.ndarray:
        return self.price_on(np.arange(self.n), days - 1)


def build_catalog(cfg: SimConfig, rng: np.random.Generator) -> Catalog:
    nm, n = cfg.n_merchants, cfg.n_products
    codes = [f"sim-shop-{i + 1:02d}" for i in range(nm)]
    cur = rng.choice(len(CURRENCIES), size=nm, p=[0.6, 0.3, 0.1])
    merchant_weight = rng.pareto(1.5, nm) + 1.0
    merchant_weight /= merchant_weight.sum()
    n_sup = 2 * nm
    supplier_merchant = np.repeat(np.arange(nm), 2)
    supplier_lead = rng.integers(3, 15, n_sup)

    merchant = np.sort(rng.choice(nm, size=n, p=0.5 * merchant_weight + 0.5 / nm))
    merchant[:nm] = np.arange(nm)  # every merchant sells something
    merchant.sort()
    cats_of = [rng.choice(len(CATEGORIES), size=int(rng.integers(2, 5)), replace=False) for _ in range(nm)]
    category = np.array([rng.choice(cats_of[m]) for m in merchant], dtype=np.int64)
    lo = np.array([c[1] for c in CATEGORIES])[category]
    hi = np.array([c[2] for c in CATEGORIES])[category]
    margin = np.array([c[3] for c in CATEGORIES])[category]
    price = np.exp(rng.uniform(np.log(lo), np.log(hi)))
    base_price = (np.round(price) * 100 - 1).astype(np.int64)  # 19.99-style prices
    cost = np.round(base_price * 100 * (1 - margin) * rng.uniform(0.9, 1.1, n)).astype(np.int64)
    # Long tail: Zipf-like popularity inside each merchant.
    popularity = 1.0 / (rng.permutation(n) % 400 + 1.0) ** 1.1
    launch = np.where(rng.random(n) < 0.8, 0, rng.integers(0, cfg.days, n))
    retire_at = launch + rng.integers(60, max(61, cfg.days), n)
    retire = np.where((rng.random(n) < 0.08) & (retire_at < cfg.days), retire_at, cfg.days)
    change_day = np.where(rng.random(n) < 0.5, rng.integers(1, cfg.days, n), cfg.days)
    change_factor = rng.choice([0.85, 0.9, 0.95, 1.05, 1.1, 1.15], size=n)
    supplier = 2 * merchant + rng.integers(0, 2, n)
    partner = np.full(n, -1, dtype=np.int64)
    partner_prob = np.zeros(n)
    for m in range(nm):
        own = np.flatnonzero(merchant == m)
        top = own[np.argsort(-popularity[own])][: max(4, len(own) // 4)]
        pairs = max(2, len(own) // 25)
        picks = rng.permutation(top)
        for i in range(min(pairs, len(picks) // 2)):
            a, b = picks[2 * i], picks[2 * i + 1]
            partner[a], partner_prob[a] = b, rng.uniform(0.3, 0.5)
    skus = [f"SIM-{i + 1:05d}" for i in range(n)]
    names = [f"{ADJECTIVES[i % len(ADJECTIVES)]} {NOUNS[CATEGORIES[c][0]]} {i + 1}" for i, c in enumerate(category)]
    mwh = np.arange(nm) % len(WAREHOUSES)
    return Catalog(
        merchant_code=codes, merchant_currency=[CURRENCIES[c][0] for c in cur],
        merchant_tax_bp=np.array([CURRENCIES[c][1] for c in cur], dtype=np.int64), merchant_warehouse=mwh,
        merchant_weight=merchant_weight, supplier_merchant=supplier_merchant, supplier_lead=supplier_lead,
        merchant=merchant, category=category, sku=skus, name=names, base_price=base_price, change_day=change_day,
        change_factor=change_factor, cost=cost, popularity=popularity, launch=launch, retire=retire,
        supplier=supplier, partner=partner, partner_prob=partner_prob, warehouse=mwh[merchant],
    )
