"""Customer features, k-means segments and the churn model on small literal or seeded synthetic data
whose answers are known: RFM worked by hand, three planted customer groups, churn windows at their
edges, and a simulated shop where churn follows from each customer's order rate and lifetime."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from pipelines.ml.churn import churn_cutoffs, churn_dataset, evaluate_churn, score_churn, train_churn
from pipelines.ml.segments import category_revenue, customer_features, segment_customers

ORDER_SCHEMA = {"customer_id": pl.Int64, "order_id": pl.Int64, "placed_on": pl.Date, "is_cancelled": pl.Boolean,
                "net_revenue": pl.Float64, "units": pl.Int64, "channel": pl.String}
LINE_SCHEMA = {"customer_id": pl.Int64, "order_id": pl.Int64, "category": pl.String, "net_revenue": pl.Float64,
               "is_cancelled": pl.Boolean}


def _orders(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=ORDER_SCHEMA, orient="row")


def _shuffled(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sample(fraction=1.0, shuffle=True, seed=7)


# --- features -------------------------------------------------------------------------------------------------------

AS_OF = date(2024, 3, 11)
ORDERS = _orders([
    (1, 11, date(2024, 1, 1), False, 100.0, 2, "web"),
    (1, 12, date(2024, 2, 1), False, 50.0, 4, "app"),
    (1, 13, date(2024, 3, 1), True, 999.0, 9, "web"),  # cancelled
    (1, 14, date(2024, 3, 11), False, 500.0, 1, "web"),  # on as_of: not yet history
    (2, 21, date(2024, 3, 10), False, 20.0, 1, "web"),
    (3, 31, date(2024, 2, 1), True, 30.0, 1, "web"),  # only a cancelled order
    (4, 41, date(2024, 3, 12), False, 30.0, 1, "web"),  # only after as_of
])
LINES = pl.DataFrame([
    (1, 11, "books", 60.0, False), (1, 11, "toys", 40.0, False), (1, 12, "toys", 20.0, False),
    (1, 13, "fashion", 999.0, True), (1, 14, "garden", 500.0, False), (2, 21, "zoo", 20.0, False),
], schema=LINE_SCHEMA, orient="row")


def test_customer_features_follow_the_rfm_definitions() -> None:
    f = customer_features(ORDERS, AS_OF, LINES)
    assert f["customer_id"].to_list() == [1, 2]  # 3: cancelled only, 4: after as_of
    one, two = f.row(0, named=True), f.row(1, named=True)
    # Feb 1 -> Mar 11 2024 (leap year) = 39 days; Jan 1 -> Mar 11 = 70 days
    assert (one["recency_days"], one["frequency"], one["monetary"], one["tenure_days"]) == (39, 2, 150.0, 70)
    assert one["aov"] == pytest.approx(75.0)
    assert one["orders_per_year"] == pytest.approx(2 / 70 * 365)
    assert one["avg_units_per_order"] == pytest.approx(3.0)
    # a one-day-old customer's rate is per 30 days of tenure, not per day
    assert (two["recency_days"], two["frequency"], two["monetary"], two["tenure_days"]) == (1, 1, 20.0, 1)
    assert two["orders_per_year"] == pytest.approx(365 / 30)
    # books 60 ties toys 40+20: the name decides; fashion (cancelled) and garden (on as_of) do not count
    assert f["favourite_category"].to_list() == ["books", "zoo"]
    assert f["distinct_categories"].to_list() == [2, 1]


def test_customer_features_without_lines_and_in_any_row_order() -> None:
    f = customer_features(ORDERS, AS_OF)
    assert f["favourite_category"].null_count() == 2 and f["distinct_categories"].null_count() == 2
    assert customer_features(_shuffled(ORDERS), AS_OF, _shuffled(LINES)).equals(customer_features(ORDERS, AS_OF, LINES))


# --- segments -------------------------------------------------------------------------------------------------------

SEG_AS_OF = date(2024, 7, 1)
GROUPS = {  # name: (first customer id, orders each, days between orders, days since last order, revenue, category)
    "big": (1, 12, 10, 2, 200.0, "toys"),
    "middle": (61, 4, 30, 40, 50.0, "books"),
    "small": (121, 1, 0, 200, 10.0, "garden"),
}


def _groups() -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(3)
    orders, lines, order_id = [], [], 0
    for first, n_orders, gap, since, revenue, category in GROUPS.values():
        for customer in range(first, first + 60):
            last = SEG_AS_OF - timedelta(days=since + int(rng.integers(0, 5)))
            for i in range(n_orders):
                order_id += 1
                value = round(revenue * rng.uniform(0.9, 1.1), 2)
                orders.append((customer, order_id, last - timedelta(days=gap * i), False, value, 2, "web"))
                lines.append((customer, order_id, category, value * 0.8, False))
                lines.append((customer, order_id, "books" if category == "toys" else "zoo", value * 0.2, False))
    return _orders(orders), pl.DataFrame(lines, schema=LINE_SCHEMA, orient="row")


def test_three_separated_groups_become_three_ordered_segments() -> None:
    orders, lines = _groups()
    features = customer_features(orders, SEG_AS_OF, lines)
    seg = segment_customers(features, k_range=range(2, 7), categories=category_revenue(orders, SEG_AS_OF, lines))
    assert seg.k == 3 and set(seg.silhouette_by_k) == {2, 3, 4, 5, 6}
    assert seg.silhouette_by_k[3] == max(seg.silhouette_by_k.values())
    by_group = {name: seg.assignments.filter(pl.col("customer_id").is_between(first, first + 59))["segment_id"]
                .unique().to_list() for name, (first, *_rest) in GROUPS.items()}
    assert by_group == {"big": [1], "middle": [2], "small": [3]}  # one segment per group, ordered by spend
    d = seg.descriptions
    assert d["customers"].to_list() == [60, 60, 60]
    assert d["segment_name"].to_list() == ["High spenders, frequent, recent", "Mid spenders, occasional, lapsing",
                                           "Low spenders, one-off, lapsed"]
    assert d["favourite_categories"].to_list() == ["toys, books", "books, zoo", "garden, zoo"]
    assert d["median_frequency"].to_list() == [12.0, 4.0, 1.0]
    assert all(text.startswith("60 customers (33%) who spend ") for text in d["description"])
    assert "favourite categories: toys, books." in d["description"][0]
    assert seg.centers["frequency"].to_list() == pytest.approx([12.0, 4.0, 1.0], rel=1e-6)


def test_segments_do_not_depend_on_row_order_and_need_enough_customers() -> None:
    orders, _ = _groups()
    features = customer_features(orders, SEG_AS_OF)
    seg = segment_customers(features, k_range=range(2, 5))
    again = segment_customers(_shuffled(features), k_range=range(2, 5))
    assert again.assignments.equals(seg.assignments) and again.descriptions.equals(seg.descriptions)
    assert seg.descriptions["favourite_categories"].null_count() == seg.k
    assert seg.assign(features).equals(seg.assignments)
    sampled = segment_customers(features, k_range=range(2, 5), sample=90)  # k chosen on half, refitted on all
    assert sampled.k == 3 and sampled.assignments.equals(seg.assignments)
    with pytest.raises(ValueError, match="need 2 <= k < customers"):
        segment_customers(features.head(3), k_range=range(3, 9))


# --- churn labels and features --------------------------------------------------------------------------------------

CUTOFF = date(2024, 6, 1)


def _label_orders() -> pl.DataFrame:
    before = date(2024, 5, 1)
    return _orders([
        (1, 1, before, False, 10.0, 1, "web"), (1, 2, CUTOFF + timedelta(days=89), False, 10.0, 1, "web"),
        (2, 3, before, False, 10.0, 1, "web"), (2, 4, CUTOFF + timedelta(days=90), False, 10.0, 1, "web"),
        (3, 5, before, False, 10.0, 1, "web"), (3, 6, date(2024, 6, 10), True, 10.0, 1, "web"),
        (4, 7, before, False, 10.0, 1, "web"), (4, 8, CUTOFF, False, 10.0, 1, "app"),
        (5, 9, date(2024, 6, 5), False, 10.0, 1, "web"),  # first order after the cut-off: not in the set
        (6, 10, date(2024, 1, 1), False, 10.0, 1, "web"), (6, 11, date(2024, 2, 10), False, 10.0, 1, "web"),
        (6, 12, date(2024, 4, 10), False, 10.0, 1, "app"), (6, 13, date(2024, 5, 31), False, 10.0, 1, "app"),
    ])


def test_churn_label_window_is_cutoff_to_horizon_exclusive() -> None:
    data = churn_dataset(_label_orders(), CUTOFF, label_end=date(2024, 12, 1))
    assert data["customer_id"].to_list() == [1, 2, 3, 4, 6]
    # 1: ordered on day 89; 2: only on day 90; 3: only a cancelled order; 4: on the cut-off day itself
    assert data["churned"].to_list() == [False, True, True, False, True]
    assert data.filter(pl.col("customer_id") == 4)["frequency"].item() == 1  # the cut-off day is not history


def test_churn_features_at_the_cutoff() -> None:
    row = churn_dataset(_label_orders(), CUTOFF, label_end=date(2024, 12, 1)).row(4, named=True)
    assert row["customer_id"] == 6 and row["cutoff"] == CUTOFF
    # last 90 days = [Mar 3, Jun 1): Apr 10, May 31; the 90 before: Jan 1, Feb 10
    assert (row["orders_last_90"], row["orders_prev_90"], row["recency_days"]) == (2, 2, 1)
    assert row["mean_days_between_orders"] == pytest.approx(151 / 3)  # Jan 1 -> May 31 over 3 gaps
    assert row["days_since_last_vs_mean_gap"] == pytest.approx(3 / 151)
    assert (row["channel_share_web"], row["channel_share_app"]) == (0.5, 0.5)
    one = churn_dataset(_label_orders(), CUTOFF, label_end=date(2024, 12, 1)).row(0, named=True)
    assert one["mean_days_between_orders"] is None and one["days_since_last_vs_mean_gap"] is None


def test_churn_labels_are_null_until_the_horizon_is_observed() -> None:
    orders = _label_orders()  # last order day Aug 30 = cutoff + 90, so the inferred label_end is Aug 31
    assert churn_dataset(orders, CUTOFF)["churned"].null_count() == 0
    assert churn_dataset(orders, CUTOFF + timedelta(days=2))["churned"].null_count() == 5
    assert churn_dataset(orders, CUTOFF, label_end=CUTOFF + timedelta(days=89))["churned"].null_count() == 5


# --- churn model ----------------------------------------------------------------------------------------------------

SIM_START, SIM_DAYS = date(2023, 1, 1), 540


def _simulated_shop(customers: int = 2000, seed: int = 11) -> pl.DataFrame:
    """Half the customers order once and never return; the others order as a Poisson process (rate 1/90
    to 1/3 a day) from a random start until an exponential lifetime (mean 200 days) ends. Churn so
    follows from recency and frequency: a recent first order alone says less than recency suggests."""
    rng = np.random.default_rng(seed)
    rows, order_id = [], 0
    for customer in range(1, customers + 1):
        start = int(rng.integers(0, SIM_DAYS - 60))
        one_off = rng.random() < 0.5
        end = start + 1 if one_off else min(SIM_DAYS, start + 1 + int(rng.exponential(200)))
        rate = float(np.exp(rng.uniform(np.log(1 / 90), np.log(1 / 3))))
        days = [start, *rng.integers(start, end, size=rng.poisson(rate * (end - start)))]
        for day in sorted(days):
            order_id += 1
            rows.append((customer, order_id, SIM_START + timedelta(days=int(day)), bool(rng.random() < 0.05),
                         round(float(rng.gamma(2.0, 30.0)), 2), int(rng.integers(1, 5)),
                         "web" if rng.random() < 0.6 else "app"))
    return _orders(rows)


def test_churn_model_beats_recency_alone_and_is_calibrated() -> None:
    orders = _simulated_shop()
    as_of = orders["placed_on"].max() + timedelta(days=1)
    train_cutoff, test_cutoff = churn_cutoffs(as_of, first_order_day=orders["placed_on"].min())
    assert (as_of - train_cutoff, as_of - test_cutoff) == (timedelta(days=180), timedelta(days=90))
    model = train_churn(churn_dataset(orders, train_cutoff, label_end=as_of))
    assert model.cutoff == train_cutoff
    test = churn_dataset(orders, test_cutoff, label_end=as_of)
    result = evaluate_churn(model, test)
    m, base = result["model"], result["baseline"]
    assert m["customers"] == test.height and 0 < m["positives"] < m["customers"]
    assert m["roc_auc"] > 0.9 and m["roc_auc"] > base["roc_auc"] + 0.005 and m["brier"] < base["brier"]
    bins = result["calibration"]
    assert len(bins) == 10 and sum(b["customers"] for b in bins) == m["customers"]
    assert [b["bin"] for b in bins] == list(range(1, 11))
    assert all(abs(b["mean_predicted"] - b["observed_rate"]) < 0.1 for b in bins)

    scored = score_churn(train_churn(test), churn_dataset(orders, as_of, label_end=as_of))
    p = scored["churn_probability"]
    assert scored.height == orders.filter(~pl.col("is_cancelled"))["customer_id"].n_unique()
    assert p.min() >= 0.0 and p.max() <= 1.0 and p.dtype == pl.Float64
    expected = ["high" if x >= 0.7 else "medium" if x >= 0.4 else "low" for x in p]
    assert scored["risk_band"].to_list() == expected and set(expected) == {"high", "medium", "low"}
    again = score_churn(train_churn(_shuffled(test)), churn_dataset(_shuffled(orders), as_of, label_end=as_of))
    assert again.equals(scored)


def test_churn_refuses_too_short_a_history_or_a_missing_class() -> None:
    with pytest.raises(ValueError, match=r"more than 180 days .* orders start 2024-03-01, only 122 days before"):
        churn_cutoffs(date(2024, 7, 1), first_order_day=date(2024, 3, 1))
    data = churn_dataset(_label_orders(), CUTOFF, label_end=date(2024, 12, 1))
    with pytest.raises(ValueError, match="only churned customers"):
        train_churn(data.filter(pl.col("churned")))
    with pytest.raises(ValueError, match="no labelled customers"):
        train_churn(churn_dataset(_label_orders(), CUTOFF, label_end=CUTOFF))
