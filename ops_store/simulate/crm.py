"""Support tickets, their first messages and the communication log, and product reviews. Late
deliveries raise the ticket rate and lower ratings; returns open some tickets too."""

from __future__ import annotations

import numpy as np

from ops_store.simulate.config import DAY
from ops_store.simulate.engine import History
from ops_store.simulate.frame import Frame
from ops_store.simulate.fulfilment import NEVER, is_late

TICKET_RATE = 0.03
LATE_TICKET_RATE = 0.30
RETURN_TICKET_RATE = 0.15
REVIEW_RATE = 0.07
TARGET_HOURS = {"high": (4, 24), "normal": (8, 48), "low": (24, 120)}
RATING_P = {False: (0.03, 0.05, 0.12, 0.35, 0.45), True: (0.25, 0.25, 0.2, 0.15, 0.15)}


def crm_frames(hist: History, cutoff: int, rng: np.random.Generator) -> list[Frame]:
    o, ln = hist.orders, hist.lines
    n = len(o["placed_t"])
    delivered = o["deliver_t"] < cutoff
    late = is_late(o["deliver_t"], o["promised_day"]) & delivered
    want = delivered & (rng.random(n) < np.where(late, LATE_TICKET_RATE, TICKET_RATE))
    t_order = np.flatnonzero(want)
    t_created = o["deliver_t"][t_order] + rng.integers(3600, 2 * DAY, len(t_order))
    t_cat = np.where(late[t_order], "delivery", rng.choice(["product", "payment", "other"], len(t_order)))
    rets = np.flatnonzero((ln["return_idx"] >= 0) & (rng.random(len(ln["order"])) < RETURN_TICKET_RATE))
    rets = rets[ln["request_t"][rets] < cutoff]
    order = np.r_[t_order, ln["order"][rets]]
    created = np.r_[t_created, ln["request_t"][rets] + 600]
    category = np.r_[t_cat, np.full(len(rets), "return")]
    keep = created < cutoff
    order, created, category = order[keep], created[keep], category[keep]
    by = np.argsort(created, kind="stable")
    order, created, category = order[by], created[by], category[by]
    k = len(order)
    is_late_t = late[order]
    priority = np.where(is_late_t, "high", np.where(category == "return", "normal", "low"))
    first_h = np.array([TARGET_HOURS[p][0] for p in priority.tolist()], dtype=np.int64)
    res_h = np.array([TARGET_HOURS[p][1] for p in priority.tolist()], dtype=np.int64)
    first_at = created + (rng.exponential(0.6, k) * first_h * 3600).astype(np.int64)
    resolved_at = first_at + (rng.exponential(0.5, k) * res_h * 3600).astype(np.int64)
    closed_at = resolved_at + 3 * DAY
    status = np.where(closed_at < cutoff, "closed", np.where(resolved_at < cutoff, "resolved",
                                                             np.where(first_at < cutoff, "open", "new")))
    sat = np.where(is_late_t, rng.integers(1, 4, k), rng.integers(3, 6, k))
    sat_list = [int(s) if st == "closed" else None for s, st in zip(sat.tolist(), status.tolist(), strict=True)]

    def opt(t: np.ndarray) -> list[int | None]:
        return [int(v) if v < cutoff else None for v in t.tolist()]

    subjects = {"delivery": "Where is my parcel?", "return": "Question about my return",
                "product": "Question about a product", "payment": "Payment question", "other": "Question"}
    last = np.where(status == "closed", closed_at, np.where(status == "resolved", resolved_at,
                                                            np.where(status == "open", first_at, created)))
    tickets = (Frame("tickets").add("customer_id", o["customer"][order], "ref:customers")
               .add("order_id", order, "ref:orders").add("merchant_id", o["merchant"][order], "ref:merchants")
               .add("category", category.tolist()).add("priority", priority.tolist()).add("status", status.tolist())
               .add("subject", [subjects[c] for c in category.tolist()])
               .add("assignee", np.where(status == "new", None, "agent-sim").tolist())
               .add("first_response_due_at", created + first_h * 3600, "t")
               .add("resolution_due_at", created + res_h * 3600, "t")
               .add("first_response_at", opt(first_at), "t_opt").add("resolved_at", opt(resolved_at), "t_opt")
               .add("closed_at", opt(closed_at), "t_opt").add("satisfaction", sat_list)
               .add("created_at", created, "t").add("updated_at", last, "t"))
    idx = np.arange(k)
    messages = (Frame("ticket_messages").add("ticket_id", idx, "ref:tickets").add("author_kind", "customer")
                .add("author", "customer").add("body", [subjects[c] for c in category.tolist()])
                .add("created_at", created, "t"))
    comms = (Frame("communications").add("customer_id", o["customer"][order], "ref:customers")
             .add("direction", "inbound").add("channel", "email").add("subject", [subjects[c] for c in category])
             .add("summary", None).add("agent", None).add("order_id", order, "ref:orders")
             .add("ticket_id", idx, "ref:tickets").add("occurred_at", created, "t").add("created_at", created, "t"))

    # reviews: one per customer and product, from delivered lines
    line_deliv = o["deliver_t"][ln["order"]]
    r = np.flatnonzero((line_deliv < cutoff) & (rng.random(len(ln["order"])) < REVIEW_RATE))
    r_t = line_deliv[r] + rng.integers(DAY, 10 * DAY, len(r))
    r = r[r_t < cutoff]
    r_t = r_t[r_t < cutoff]
    cust = o["customer"][ln["order"][r]]
    _, first = np.unique(cust * (int(ln["product"].max()) + 1 if len(ln["product"]) else 1) + ln["product"][r],
                         return_index=True)
    first.sort()
    r, r_t, cust = r[first], r_t[first], cust[first]
    r_late = late[ln["order"][r]]
    u = rng.random(len(r))
    rating = np.where(r_late, np.searchsorted(np.cumsum(RATING_P[True]), u),
                      np.searchsorted(np.cumsum(RATING_P[False]), u)) + 1
    rating = np.minimum(rating, 5)
    texts = {1: "Very disappointed.", 2: "Not great.", 3: "It is fine.", 4: "Good value.", 5: "Love it!"}
    reviews = (Frame("reviews").add("customer_id", cust, "ref:customers").add("product_id", ln["product"][r],
                                                                              "ref:products")
               .add("order_id", ln["order"][r], "ref:orders").add("rating", rating)
               .add("text", [texts[x] for x in rating.tolist()]).add("verified_purchase", True)
               .add("created_at", r_t, "t").add("updated_at", r_t, "t"))
    assert cutoff < NEVER
    return [tickets, messages, comms, reviews]
