"""Recommendations on small literal data with answers worked by hand."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl
import pytest

from pipelines.ml.recommend import (
    evaluate,
    fit_item_neighbours,
    frequently_bought_together,
    popular_for_customers,
    recommend_for_customers,
    recovered_affinities,
    time_split,
)


def _lines(baskets: dict[int, list[int]]) -> pl.DataFrame:
    rows = [(order, int(product)) for order, products in baskets.items() for product in products]
    return pl.DataFrame(rows, schema={"order_id": pl.Int64, "product_id": pl.Int64}, orient="row")


def _interactions(baskets: dict[int, list[int]], weight: float = 1.0) -> pl.DataFrame:
    rows = [(customer, product, weight) for customer, products in baskets.items() for product in products]
    return pl.DataFrame(rows, schema={"customer_id": pl.Int64, "product_id": pl.Int64, "weight": pl.Float64},
                        orient="row")


def _ranked(recs: pl.DataFrame, customer: int) -> list[int]:
    return recs.filter(pl.col("customer_id") == customer).sort("rank")["product_id"].to_list()


def test_planted_co_purchase_is_found_among_random_baskets() -> None:
    rng = np.random.default_rng(7)
    baskets = {order: list(rng.choice(np.arange(3, 41), size=rng.integers(1, 4), replace=False))
               for order in range(500)}
    for order in rng.choice(500, size=60, replace=False):
        baskets[int(order)] += [1, 2]
    pairs = frequently_bought_together(_lines(baskets), min_support=3, top_n=5)

    assert pairs.schema == pl.Schema({"product_id": pl.Int64, "recommended_product_id": pl.Int64, "rank": pl.Int32,
                                      "score": pl.Float64, "support": pl.Int64, "confidence": pl.Float64})
    for a, b in ((1, 2), (2, 1)):
        first = pairs.filter((pl.col("product_id") == a) & (pl.col("rank") == 1)).row(0, named=True)
        assert first["recommended_product_id"] == b
        assert first["support"] == 60 and first["score"] > 5
    assert pairs["support"].min() >= 3
    assert pairs.group_by("product_id").len()["len"].max() <= 5
    ranks = pairs.group_by("product_id").agg(pl.col("rank").sort())["rank"].to_list()
    assert all(r == list(range(1, len(r) + 1)) for r in ranks)


def test_lift_support_and_confidence_by_hand() -> None:
    # 7 orders; product 1 is listed twice in order 1 (orders count, not lines): n1 = 3, n2 = 4, n3 = 2.
    lines = _lines({1: [1, 2, 1], 2: [1, 2], 3: [1, 3], 4: [2], 5: [3], 6: [4], 7: [2]})
    pairs = frequently_bought_together(lines, min_support=2)
    assert pairs.sort("product_id").rows() == [
        (1, 2, 1, pytest.approx(2 * 7 / (3 * 4)), 2, pytest.approx(2 / 3)),  # lift = (2/7) / ((3/7)(4/7))
        (2, 1, 1, pytest.approx(2 * 7 / (3 * 4)), 2, pytest.approx(2 / 4)),
    ]
    # With support 1 allowed, 1 -> 3 has the same lift 7/6 as 1 -> 2: the larger support ranks first.
    loose = frequently_bought_together(lines, min_support=1)
    assert loose.filter(pl.col("product_id") == 1).select("recommended_product_id", "rank", "support").rows() == [
        (2, 1, 2), (3, 2, 1)]
    assert loose.filter(pl.col("product_id") == 3)["confidence"].to_list() == [pytest.approx(1 / 2)]
    assert frequently_bought_together(lines, min_support=1, top_n=1).height == 3  # 1 -> 2, 2 -> 1, 3 -> 1


# Two disjoint groups: A buys 1-3, B (more of them) buys 4-6; customer 10 bought 1 and 2, customer 11 only 3.
# Total weights: 1, 2 and 3 -> 5 each, 4, 5 and 6 -> 6 each.
GROUPS = _interactions({1: [1, 2, 3], 2: [1, 2, 3], 3: [1, 2, 3], 4: [1, 2, 3], 5: [4, 5, 6], 6: [4, 5, 6],
                        7: [4, 5, 6], 8: [4, 5, 6], 9: [4, 5, 6], 20: [4, 5, 6], 10: [1, 2], 11: [3]})
BOUGHT = GROUPS.select("customer_id", "product_id")


def test_item_neighbours_stay_inside_the_group_and_fill_up_with_popular_items() -> None:
    model = fit_item_neighbours(GROUPS)
    sim = model.similarity.toarray()
    assert list(model.product_ids) == [1, 2, 3, 4, 5, 6]
    assert sim[:3, 3:].max() == 0 and sim[3:, :3].max() == 0 and np.diag(sim).max() == 0
    assert sim[0, 2] > 0

    recs = recommend_for_customers(model, GROUPS, allowed=range(1, 8), recent=BOUGHT, k=5, customers=[10, 11, 12])
    assert recs.schema == pl.Schema({"customer_id": pl.Int64, "product_id": pl.Int64, "rank": pl.Int32,
                                     "score": pl.Float64})
    # 3 by similarity; then group B (popularity, ties by id) and 7 (never seen) at score 0.
    assert _ranked(recs, 10) == [3, 4, 5, 6, 7]
    assert recs.filter(pl.col("customer_id") == 10)["score"].to_list()[0] > 0
    assert recs.filter(pl.col("customer_id") == 10)["score"].to_list()[1:] == [0.0] * 4
    assert _ranked(recs, 12) == [4, 5, 6, 1, 2]  # no history: popularity only
    # 1 and 2 are equally similar to 3: the tie goes to the smaller id, also at the k-th place.
    one = recommend_for_customers(model, GROUPS, allowed=range(1, 8), recent=BOUGHT, k=1, customers=[11])
    assert one.rows() == [(11, 1, 1, pytest.approx(sim[2, 0] * math.log(2)))]

    # The popularity baseline puts the larger group first for the same customer.
    assert _ranked(popular_for_customers(GROUPS, allowed=range(1, 8), recent=BOUGHT, k=4, customers=[10]), 10) == [
        4, 5, 6, 3]


def test_similarity_outranks_popularity_within_a_group() -> None:
    # 1 is bought with 2 four times and with 3 once; 3 is the most popular product overall.
    baskets = {1: [1, 2], 2: [1, 2], 3: [1, 2], 4: [1, 2], 5: [1, 3]} | {c: [3] for c in range(6, 13)} | {13: [1]}
    interactions = _interactions(baskets)
    recs = recommend_for_customers(fit_item_neighbours(interactions), interactions, allowed=[1, 2, 3],
                                   recent=interactions.select("customer_id", "product_id"), k=3, customers=[13])
    assert _ranked(recs, 13) == [2, 3]
    assert _ranked(popular_for_customers(interactions, allowed=[1, 2, 3], recent=interactions.select(
        "customer_id", "product_id"), customers=[13]), 13) == [3, 2]


def test_ties_at_the_kth_place_go_to_the_smaller_id() -> None:
    # Customer 10 bought only 8: 6 is the most similar to it, 1-4 tie below (bought together with 8 alike).
    baskets = {c: [1, 2, 3, 4, 8] for c in (1, 2, 3)} | {c: [6, 8] for c in range(4, 10)} | {10: [8], 11: [5, 7]}
    interactions = _interactions(baskets)
    recs = recommend_for_customers(fit_item_neighbours(interactions), interactions, allowed=range(1, 8),
                                   recent=interactions.select("customer_id", "product_id"), k=3, customers=[10])
    assert _ranked(recs, 10) == [6, 1, 2]
    assert recs["score"][1] == recs["score"][2] > 0


def test_exclusions_allowed_and_repeat_products() -> None:
    model = fit_item_neighbours(GROUPS)
    not_3 = [1, 2, 4, 5, 6]
    recs = recommend_for_customers(model, GROUPS, allowed=not_3, recent=BOUGHT, k=10)
    assert recs.join(BOUGHT, on=["customer_id", "product_id"], how="semi").is_empty()
    assert 3 not in recs["product_id"].to_list()
    assert recs.group_by("customer_id").len().sort("customer_id").rows() == [(c, 3) for c in range(1, 5)] + [
        (c, 2) for c in range(5, 10)] + [(10, 3), (11, 5), (20, 2)]  # every allowed product not bought, however few

    back = recommend_for_customers(model, GROUPS, allowed=not_3, recent=BOUGHT, repeat_products=[2], k=2,
                                   customers=[10])
    assert _ranked(back, 10) == [2, 4]  # 2 scores through its similarity to 1; 1 stays excluded
    assert back["score"][0] > 0
    # Without `recent` nothing is excluded (interactions cannot tell views from purchases).
    assert 1 in _ranked(recommend_for_customers(model, GROUPS, allowed=not_3, k=5, customers=[11]), 11)


def test_popularity_baseline_order_and_exclusions() -> None:
    interactions = _interactions({1: [1, 2, 3], 2: [2, 3], 3: [3, 4]}).vstack(_interactions({4: [5]}, weight=2.0))
    # total weight: 3 -> 3, 2 -> 2, 5 -> 2, 1 -> 1, 4 -> 1
    recs = popular_for_customers(interactions, allowed=[1, 2, 3, 4, 5, 6], recent=interactions.select(
        "customer_id", "product_id"), repeat_products=[3], k=3)
    assert _ranked(recs, 1) == [3, 5, 4]
    assert _ranked(recs, 2) == [3, 5, 1]
    assert _ranked(recs, 4) == [3, 2, 1]
    assert recs.filter(pl.col("customer_id") == 4)["score"].to_list() == [3.0, 2.0, 1.0]
    shown = popular_for_customers(interactions, allowed=[1, 4, 6], recent=interactions.select(
        "customer_id", "product_id"), k=5, customers=[1])
    assert _ranked(shown, 1) == [4, 6]


def test_time_split_keeps_new_products_of_known_customers() -> None:
    cutoff = date(2026, 1, 5)
    purchases = pl.DataFrame(
        [(1, 1, date(2026, 1, 1), 100), (1, 1, date(2026, 1, 10), 101), (1, 2, date(2026, 1, 10), 101),
         (1, 5, cutoff, 102), (2, 3, date(2026, 1, 10), 103), (3, 4, date(2026, 1, 4), 104)],
        schema={"customer_id": pl.Int64, "product_id": pl.Int64, "placed_on": pl.Date, "order_id": pl.Int64},
        orient="row")
    train, test = time_split(purchases, cutoff)
    assert train.columns == test.columns == purchases.columns
    assert sorted(train["order_id"].to_list()) == [100, 104]
    # 1 re-bought: not new; customer 2 has no history; the cutoff day itself is test.
    assert sorted(test.select("customer_id", "product_id").rows()) == [(1, 2), (1, 5)]


def test_evaluate_two_customers_by_hand() -> None:
    recs = pl.DataFrame(
        [(1, 20, 3), (1, 10, 1), (1, 40, 2), (2, 50, 1), (2, 30, 2), (2, 60, 3), (3, 70, 1)],
        schema={"customer_id": pl.Int64, "product_id": pl.Int64, "rank": pl.Int32}, orient="row")
    test = pl.DataFrame({"customer_id": [1, 1, 1, 2, 4], "product_id": [10, 20, 20, 30, 10]})
    result = evaluate(recs, test, catalogue=range(10, 90, 10), k=3)
    ndcg_1 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))  # hits at ranks 1 and 3 of 2 relevant
    ndcg_2 = 1 / math.log2(3)  # hit at rank 2 of 1 relevant
    assert result == {
        "precision_at_3": pytest.approx((2 / 3 + 1 / 3 + 0) / 3),  # customer 4 has no recommendations
        "recall_at_3": pytest.approx((1 + 1 + 0) / 3),
        "ndcg_at_3": pytest.approx((ndcg_1 + ndcg_2 + 0) / 3),
        "catalogue_coverage": pytest.approx(7 / 8),  # customer 3 counts for coverage only
        "customers_evaluated": 3,
    }


def test_recovered_affinities_either_direction_within_top() -> None:
    pairs = pl.DataFrame({"product_id": [1, 4, 5, 5, 5], "recommended_product_id": [2, 3, 9, 8, 6],
                          "rank": [1, 2, 1, 2, 3]})
    planted = pl.DataFrame({"product_a": [1, 3, 5, 7], "product_b": [2, 4, 6, 8]})
    # (1, 2) directly, (3, 4) as 4 -> 3; 6 is third for 5 (beyond top 2); 7 and 8 never paired.
    assert recovered_affinities(pairs, planted, top=2) == {"planted": 4, "recovered": 2, "recovered_share": 0.5}
    assert recovered_affinities(pairs, planted, top=3)["recovered"] == 3


def test_top_k_per_row_matches_a_full_sort_also_past_the_sampled_entries() -> None:
    from scipy import sparse

    from pipelines.ml.recommend import _SAMPLE, _top_k_per_row

    rng = np.random.default_rng(3)
    rows = np.repeat(np.arange(40), rng.integers(0, 3 * _SAMPLE, 40))
    cols = rng.integers(0, 5 * _SAMPLE, len(rows))
    # few distinct values: many ties, also at the k-th place; the best entries often sit past the sample
    values = rng.choice([0.5, 1.0, 1.5, 2.0], len(rows)) + (cols > 2 * _SAMPLE) * rng.choice([0.0, 3.0], len(rows))
    scores = sparse.csr_matrix((values, (rows, cols)), shape=(40, 5 * _SAMPLE))
    scores.sum_duplicates()
    for k in (1, 10, _SAMPLE + 5):
        r, c, v = _top_k_per_row(scores, k)
        by_hand = [sorted(zip(scores[i].indices, scores[i].data, strict=True), key=lambda e: (-e[1], e[0]))[:k]
                   for i in range(40)]
        expected = [(i, j, x) for i, best in enumerate(by_hand) for j, x in best]
        assert list(zip(r.tolist(), c.tolist(), v.tolist(), strict=True)) == expected


def test_rankings_do_not_depend_on_how_customers_are_batched(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.ml import recommend

    rng = np.random.default_rng(5)
    drawn = pl.DataFrame({"customer_id": rng.integers(0, 80, 900), "product_id": rng.integers(0, 60, 900),
                          "weight": rng.choice([1.0, 0.2, 2.0], 900)})
    interactions = drawn.group_by("customer_id", "product_id").agg(pl.col("weight").sum()).sort("customer_id",
                                                                                                 "product_id")
    bought = interactions.filter(pl.col("weight") >= 1).select("customer_id", "product_id")
    model = fit_item_neighbours(interactions, neighbours=5)
    common = {"allowed": range(0, 70, 2), "recent": bought, "repeat_products": [4], "k": 8}
    whole = [recommend_for_customers(model, interactions, **common), popular_for_customers(interactions, **common)]
    monkeypatch.setattr(recommend, "_BATCH_CELLS", 7)  # a handful of customers, and of fill cells, at a time
    assert recommend_for_customers(model, interactions, **common).rows() == whole[0].rows()
    assert popular_for_customers(interactions, **common).rows() == whole[1].rows()
    assert whole[0].group_by("customer_id").len()["len"].max() == 8
