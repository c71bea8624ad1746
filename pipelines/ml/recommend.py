"""Product recommendations: "frequently bought together" pairs (support, lift, confidence over
orders), implicit-feedback item-based collaborative filtering ("recommended for you") with a
popularity baseline, the time split that evaluates them, and the evaluation itself.

Polars frames in and out; the heavy lifting is scipy sparse matrix products and each customer's
top k taken over their own candidates only, batches of customers at a time. Everything is
deterministic: ties go to the smaller product id."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl
from scipy import sparse

from pipelines.ml import metrics

MODEL_ITEM = "item_neighbours"
MODEL_POPULAR = "popularity"

SHRINKAGE = 10.0  # added to the cosine's denominator: damps pairs that share few customers
_BATCH_CELLS = 1 << 24  # entries worked on at once: product pairs, customer candidates, fill cells
_SAMPLE = 256  # entries of a row that set the floor of its top k (_top_k_per_row)
_OUTPUT_SCHEMA = {"customer_id": pl.Int64, "product_id": pl.Int64, "rank": pl.Int32, "score": pl.Float64}


@dataclass
class ItemNeighbours:
    """Item-item similarities: `similarity[i, j]` is how similar product_ids[j] is to product_ids[i],
    kept only for each row's top neighbours (rows and columns follow the sorted `product_ids`)."""

    product_ids: np.ndarray
    similarity: sparse.csr_matrix
    neighbours: int
    shrinkage: float = SHRINKAGE


def _positions(ids: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Position of each id in the sorted `index`, -1 when absent."""
    pos = np.searchsorted(index, ids)
    pos = np.minimum(pos, max(len(index) - 1, 0))
    found = (index[pos] == ids) if len(index) else np.zeros(len(ids), dtype=bool)
    return np.where(found, pos, -1)


def _matrix(rows: np.ndarray, row_index: np.ndarray, cols: np.ndarray, col_index: np.ndarray,
            values: np.ndarray) -> sparse.csr_matrix:
    """Sparse matrix over the two sorted indexes; entries whose row or column is not indexed are dropped
    and duplicates summed."""
    r, c = _positions(rows, row_index), _positions(cols, col_index)
    keep = (r >= 0) & (c >= 0)
    return sparse.csr_matrix((values[keep], (r[keep], c[keep])), shape=(len(row_index), len(col_index)))


def _top_k(key: np.ndarray, k: int) -> np.ndarray:
    """Column positions of each row's k largest keys, best first, ties to the smaller position."""
    k = min(k, key.shape[1])
    if k == 0:
        return np.empty((key.shape[0], 0), dtype=np.int64)
    top = np.argpartition(-key, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(key, top, axis=1)
    top = np.take_along_axis(top, np.lexsort((top, -vals), axis=1), axis=1)
    # argpartition picks arbitrarily among values tied with the k-th: redo those rows with a stable sort.
    kth = np.take_along_axis(key, top[:, -1:], axis=1)
    tied = np.flatnonzero((key >= kth).sum(axis=1) > k)
    if len(tied):
        top[tied] = np.argsort(-key[tied], axis=1, kind="stable")[:, :k]
    return top


def frequently_bought_together(lines: pl.DataFrame, *, min_support: int = 3, top_n: int = 10) -> pl.DataFrame:
    """For each product a, the products b most often in the same order, ranked by lift
    (P(a and b) / (P(a) P(b)) over all orders), then support (orders with both), then b.
    Pairs in fewer than `min_support` orders are dropped; confidence = support / orders with a."""
    distinct = lines.select("order_id", "product_id").unique()
    orders, order_pos = np.unique(distinct["order_id"].to_numpy(), return_inverse=True)
    products, product_pos = np.unique(distinct["product_id"].to_numpy(), return_inverse=True)
    basket = sparse.csr_matrix((np.ones(len(distinct), dtype=np.int64), (order_pos, product_pos)),
                               shape=(len(orders), len(products)))
    together = (basket.T @ basket).tocoo()  # products x products: orders containing both
    with_a = np.asarray(basket.sum(axis=0)).ravel()
    keep = (together.row != together.col) & (together.data >= min_support)
    a, b, support = together.row[keep], together.col[keep], together.data[keep].astype(np.int64)
    pairs = pl.DataFrame({
        "product_id": products[a],
        "recommended_product_id": products[b],
        "score": support * len(orders) / (with_a[a].astype(np.float64) * with_a[b]),
        "support": support,
        "confidence": support / with_a[a].astype(np.float64),
    }, schema_overrides={"product_id": pl.Int64, "recommended_product_id": pl.Int64})
    return (pairs.sort(["product_id", "score", "support", "recommended_product_id"],
                       descending=[False, True, True, False])
            .with_columns((pl.int_range(pl.len()).over("product_id") + 1).cast(pl.Int32).alias("rank"))
            .filter(pl.col("rank") <= top_n)
            .select("product_id", "recommended_product_id", "rank", "score", "support", "confidence"))


def _customer_item_matrix(interactions: pl.DataFrame, customers: np.ndarray, products: np.ndarray) -> sparse.csr_matrix:
    """Customers x products of log1p(weight): a tenth view should not count like a tenth purchase."""
    return _matrix(interactions["customer_id"].to_numpy(), customers, interactions["product_id"].to_numpy(),
                   products, np.log1p(interactions["weight"].to_numpy().astype(np.float64)))


def fit_item_neighbours(interactions: pl.DataFrame, *, neighbours: int = 50) -> ItemNeighbours:
    """Shrunk cosine similarity between products' customer vectors (log1p weights),
    dot / (|a| |b| + SHRINKAGE), keeping each product's `neighbours` most similar others."""
    customers = np.unique(interactions["customer_id"].to_numpy())
    products = np.unique(interactions["product_id"].to_numpy())
    weights = _customer_item_matrix(interactions, customers, products)
    by_item = weights.T.tocsr()
    norms = np.sqrt(np.asarray(weights.multiply(weights).sum(axis=0)).ravel())
    n = len(products)
    rows, cols, vals = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)], [np.empty(0)]
    block = max(1, _BATCH_CELLS // max(n, 1))
    for start in range(0, n, block):
        stop = min(start + block, n)
        sims = (by_item[start:stop] @ weights).toarray()
        sims /= norms[start:stop, None] * norms[None, :] + SHRINKAGE
        sims[np.arange(stop - start), np.arange(start, stop)] = 0.0
        key = np.where(sims > 0, sims, -np.inf)
        top = _top_k(key, neighbours)
        picked = np.take_along_axis(sims, top, axis=1)
        r, c = np.nonzero(picked > 0)
        rows.append(r + start)
        cols.append(top[r, c])
        vals.append(picked[r, c])
    similarity = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    return ItemNeighbours(product_ids=products, similarity=similarity, neighbours=neighbours)


def _row_batches(cost: np.ndarray, cells: int) -> list[tuple[int, int]]:
    """Consecutive row ranges whose summed cost stays under `cells` (a row costlier than that alone)."""
    edges, start, total = [], 0, 0
    for i, c in enumerate(cost.tolist()):
        if total + c > cells and i > start:
            edges.append((start, i))
            start, total = i, 0
        total += c
    if start < len(cost):
        edges.append((start, len(cost)))
    return edges


def _fill_by_popularity(blocked: sparse.csr_matrix, need: np.ndarray,
                        order: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row i, the first need[i] items in popularity `order` (item positions, most popular
    first) that row i does not block: (row, item position, 0-based place among the row's fills).
    Only a row's first need + blocked items in that order can be picked, so each row is looked at
    that wide, not across the whole catalogue."""
    n_items = len(order)
    rank_of = np.empty(n_items, dtype=np.int64)
    rank_of[order] = np.arange(n_items)
    width = np.minimum(need + np.diff(blocked.indptr), n_items)
    by_width = np.argsort(width, kind="stable")
    rows, items, places = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)]
    i = 0
    while i < len(by_width):  # chunks of rows of similar width, at most _BATCH_CELLS cells each
        j = min(len(by_width), i + max(1, _BATCH_CELLS // max(int(width[by_width[i]]), 1)))
        while j - i > 1 and (j - i) * int(width[by_width[j - 1]]) > _BATCH_CELLS:
            j = i + max(1, _BATCH_CELLS // int(width[by_width[j - 1]]))
        chunk = by_width[i:j]
        wide = max(int(width[chunk[-1]]), 1)
        part = blocked[chunk].tocoo()
        rank = rank_of[part.col]
        inside = rank < wide
        free = np.ones((len(chunk), wide), dtype=bool)
        free[part.row[inside], rank[inside]] = False
        place = np.cumsum(free, axis=1, dtype=np.int32)
        r, c = np.nonzero(free & (place <= need[chunk][:, None]))
        rows.append(chunk[r])
        items.append(order[c])
        places.append(place[r, c].astype(np.int64) - 1)
        i = j
    return np.concatenate(rows), np.concatenate(items), np.concatenate(places)


def _top_k_per_row(scores: sparse.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's k largest stored entries, best first, ties to the smaller column: (row, column,
    value), rows ascending. Sorting every stored entry would cost the most; instead each row's
    k-th largest among its first _SAMPLE entries is a floor under its true k-th largest (a subset's
    k-th largest is never above the whole row's), so only entries at or above it are sorted."""
    counts = np.diff(scores.indptr)
    row_of = np.repeat(np.arange(len(counts)), counts)
    floor = np.full(len(counts), -np.inf)
    sampled = np.flatnonzero(counts >= k)
    if len(sampled) and k > 0:
        width = min(max(_SAMPLE, k), int(counts[sampled].max()))
        offsets = np.arange(width)
        take = offsets[None, :] < counts[sampled, None]
        sample = np.full((len(sampled), width), -np.inf)
        sample[take] = scores.data[(scores.indptr[sampled, None] + offsets[None, :])[take]]
        floor[sampled] = np.partition(sample, width - k, axis=1)[:, width - k]
    keep = np.flatnonzero(scores.data >= floor[row_of])
    r, c, v = row_of[keep], scores.indices[keep], scores.data[keep]
    best = np.lexsort((c, -v, r))
    r, c, v = r[best], c[best], v[best]
    top = (np.arange(len(r)) - np.searchsorted(r, r)) < k
    return r[top], c[top].astype(np.int64), v[top]


def _rank_for_customers(interactions: pl.DataFrame, *, allowed: Collection[int], recent: pl.DataFrame | None,
                        repeat_products: Collection[int], k: int, customers: Collection[int] | None,
                        model: ItemNeighbours | None) -> pl.DataFrame:
    """The k best allowed, not-already-bought products per customer: by item-neighbour score when a model
    is given, then (for the rest, or for all without a model) by popularity = total interaction weight.

    Sparse all the way: a customer's item-neighbour candidates are the neighbours of what they
    interacted with (a few hundred products, not the catalogue), and the popularity fill looks only
    as far down the popularity order as the customer's exclusions can push it."""
    ids = np.unique(np.asarray(list(customers) if customers is not None else interactions["customer_id"].to_numpy(),
                               dtype=np.int64))
    items = np.unique(np.asarray(list(allowed), dtype=np.int64))
    if len(ids) == 0 or len(items) == 0 or k <= 0:
        return pl.DataFrame(schema=_OUTPUT_SCHEMA)
    popularity = np.zeros(len(items))
    totals = interactions.group_by("product_id").agg(pl.col("weight").sum())
    pos = _positions(totals["product_id"].to_numpy(), items)
    popularity[pos[pos >= 0]] = totals["weight"].to_numpy()[pos >= 0]
    order = np.lexsort((items, -popularity))  # most popular first, ties to the smaller id

    excluded = sparse.csr_matrix((len(ids), len(items)), dtype=np.int8)
    if recent is not None:
        bought = recent.filter(~pl.col("product_id").is_in(list(repeat_products)))
        excluded = _matrix(bought["customer_id"].to_numpy(), ids, bought["product_id"].to_numpy(), items,
                           np.ones(len(bought), dtype=np.int8))
        excluded.data[:] = 1  # bought twice is excluded once
    cost = np.diff(excluded.indptr) + 1
    if model is not None:
        history = _customer_item_matrix(interactions, ids, model.product_ids)
        in_model = _positions(items, model.product_ids)
        select = sparse.csr_matrix((np.ones(int((in_model >= 0).sum())), (in_model[in_model >= 0],
                                                                          np.flatnonzero(in_model >= 0))),
                                   shape=(len(model.product_ids), len(items)))
        similarity = (model.similarity @ select).tocsr()  # model products x allowed products
        cost += np.minimum(np.diff(history.indptr) * model.neighbours, len(items))

    frames = []
    for start, stop in _row_batches(cost, _BATCH_CELLS):
        blocked = excluded[start:stop]
        taken = np.zeros(stop - start, dtype=np.int64)
        if model is not None:
            scores = (history[start:stop] @ similarity).tocsr()
            scores = (scores - scores.multiply(blocked)).tocsr()  # CF scores are > 0: excluded ones become 0
            scores.eliminate_zeros()
            r, c, v = _top_k_per_row(scores, k)
            frames.append(pl.DataFrame({"customer_id": ids[start + r], "product_id": items[c],
                                        "rank": np.arange(len(r)) - np.searchsorted(r, r) + 1, "score": v},
                                       schema=_OUTPUT_SCHEMA))
            taken = np.minimum(np.diff(scores.indptr), k)
            blocked = blocked + (scores != 0).astype(np.int8)  # a customer short of k took all their candidates
        need = k - taken
        short = np.flatnonzero(need > 0)
        r, c, place = _fill_by_popularity(blocked[short].tocsr(), need[short], order)
        rows = short[r]
        frames.append(pl.DataFrame({"customer_id": ids[start + rows], "product_id": items[c],
                                    "rank": taken[rows] + place + 1,
                                    "score": popularity[c] if model is None else np.zeros(len(c))},
                                   schema=_OUTPUT_SCHEMA))
    return pl.concat(frames).sort("customer_id", "rank")


def recommend_for_customers(model: ItemNeighbours, interactions: pl.DataFrame, *, allowed: Collection[int],
                            repeat_products: Collection[int] = (), recent: pl.DataFrame | None = None, k: int = 10,
                            customers: Collection[int] | None = None) -> pl.DataFrame:
    """Top k per customer by sum over their interacted products i of log1p(weight) x similarity(i, j),
    only `allowed` products, never one they bought (`recent`: customer_id, product_id) unless it is in
    `repeat_products`. Customers with fewer than k scored products are filled up with the most popular
    allowed products they have not bought, at score 0.0 (CF scores are > 0). Without `recent` nothing
    is excluded: interactions mix views with purchases. `customers` defaults to everyone in interactions;
    customers without interactions get popularity only."""
    return _rank_for_customers(interactions, allowed=allowed, recent=recent, repeat_products=repeat_products,
                               k=k, customers=customers, model=model)


def popular_for_customers(interactions: pl.DataFrame, *, allowed: Collection[int], recent: pl.DataFrame | None = None,
                          repeat_products: Collection[int] = (), k: int = 10,
                          customers: Collection[int] | None = None) -> pl.DataFrame:
    """Baseline: the k allowed products with the largest total interaction weight that the customer has
    not bought (same exclusion rule as recommend_for_customers); score = that total weight."""
    return _rank_for_customers(interactions, allowed=allowed, recent=recent, repeat_products=repeat_products,
                               k=k, customers=customers, model=None)


def time_split(purchases: pl.DataFrame, cutoff: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Train = purchases placed before `cutoff`. Test = purchases on or after it by customers who also
    bought in train, of products they had NOT bought in train: new-item relevance, the standard test of
    "recommended for you" (re-buying what one already has is what the exclusion rule rules out)."""
    train = purchases.filter(pl.col("placed_on") < cutoff)
    test = (purchases.filter(pl.col("placed_on") >= cutoff)
            .join(train.select("customer_id").unique(), on="customer_id", how="semi")
            .join(train.select("customer_id", "product_id").unique(), on=["customer_id", "product_id"], how="anti"))
    return train, test


def evaluate(recommendations: pl.DataFrame, test: pl.DataFrame, *, catalogue: Collection[int],
             k: int = 10) -> dict[str, float]:
    """Mean precision@k, recall@k and NDCG@k over the customers in `test` (relevant = their distinct
    held-out products; a customer without recommendations scores 0), and the catalogue coverage of all
    `recommendations`."""
    ranked = (recommendations.sort(["customer_id", "rank"]).group_by("customer_id", maintain_order=True)
              .agg(pl.col("product_id")))
    lists = dict(zip(ranked["customer_id"].to_list(), ranked["product_id"].to_list(), strict=True))
    relevant = test.group_by("customer_id").agg(pl.col("product_id").unique())
    scores = np.array([[metrics.precision_at_k(lists.get(c, []), wanted, k),
                        metrics.recall_at_k(lists.get(c, []), wanted, k),
                        metrics.ndcg_at_k(lists.get(c, []), wanted, k)]
                       for c, wanted in relevant.iter_rows()]).reshape(-1, 3)
    means = scores.mean(axis=0) if len(scores) else np.full(3, metrics.NAN)
    return {f"precision_at_{k}": float(means[0]), f"recall_at_{k}": float(means[1]), f"ndcg_at_{k}": float(means[2]),
            "catalogue_coverage": metrics.catalogue_coverage(lists, catalogue),
            "customers_evaluated": len(scores)}


def recovered_affinities(pairs: pl.DataFrame, planted: pl.DataFrame, *, top: int = 10) -> dict[str, float]:
    """How many planted pairs (product_a, product_b) the pairs found: b in a's top `top`, or a in b's."""
    found = set(pairs.filter(pl.col("rank") <= top).select("product_id", "recommended_product_id").iter_rows())
    planted_pairs = list(planted.select("product_a", "product_b").iter_rows())
    recovered = sum(1 for a, b in planted_pairs if (a, b) in found or (b, a) in found)
    n = len(planted_pairs)
    return {"planted": n, "recovered": recovered, "recovered_share": recovered / n if n else metrics.NAN}
