"""Frames for orders and everything that hangs off them: lines, events, coupon redemptions,
reservations, payments and their transactions, shipments, tracking events, return requests."""

from __future__ import annotations

import hashlib

import numpy as np

from ops_store.simulate.catalog import CARRIERS, DELIVERY_OPTIONS, WAREHOUSES, Catalog
from ops_store.simulate.config import DAY
from ops_store.simulate.customers import CHANNELS
from ops_store.simulate.engine import History
from ops_store.simulate.frame import Frame
from ops_store.simulate.fulfilment import METHODS, NEVER
from ops_store.simulate.lifecycle import STATUSES, Events, PaymentTxns
from ops_store.simulate.money import Money
from ops_store.simulate.writer import NULL

ACTOR = "simulator"
BRANDS = ("visa", "mastercard", "amex")


def order_ref(i: int) -> str:
    return f"SIM-{i + 1:08d}"


def order_frames(hist: History, cat: Catalog, money: Money, ev: Events, status: np.ndarray, last_t: np.ndarray,
                 cutoff: int) -> list[Frame]:
    o, ln = hist.orders, hist.lines
    n = len(status)
    refs = [order_ref(i) for i in range(n)]
    coupon_campaign = np.where(money.coupon >= 1, money.coupon - 1, -1)
    orders = (Frame("orders").add("merchant_id", o["merchant"], "ref:merchants")
              .add("customer_id", o["customer"], "ref:customers")
              .add("channel", np.array(CHANNELS, dtype=object)[o["channel"]].tolist()).add("channel_order_ref", refs)
              .add("payload_hash", [hashlib.sha256(r.encode()).hexdigest() for r in refs])
              .add("status", np.array(STATUSES, dtype=object)[status].tolist())
              .add("currency", np.array(cat.merchant_currency, dtype=object)[o["merchant"]].tolist())
              .add("subtotal", money.subtotal, "cents").add("discount", money.discount, "cents")
              .add("shipping", money.shipping, "cents").add("tax", money.tax, "cents")
              .add("total", money.total, "cents")
              .add("delivery_option_id", o["option"], "ref:delivery_options")
              .add("coupon_id", money.coupon, "ref:coupons").add("campaign_id", coupon_campaign, "ref:campaigns")
              .add("points_redeemed", money.points).add("promised_on", o["promised_day"], "day")
              .add("placed_at", o["placed_t"], "t").add("created_at", o["placed_t"], "t")
              .add("updated_at", last_t, "t"))
    shipped_line = o["ship_t"][ln["order"]] < cutoff
    line_total = money.line_gross - money.line_discount
    lines = (Frame("order_lines").add("order_id", ln["order"], "ref:orders").add("line_no", ln["line_no"])
             .add("product_id", ln["product"], "ref:products")
             .add("sku", np.array(cat.sku, dtype=object)[ln["product"]].tolist()).add("quantity", ln["qty"])
             .add("unit_price", ln["unit_price"], "cents").add("discount", money.line_discount, "cents")
             .add("line_total", line_total, "cents")
             .add("unit_cost", np.where(shipped_line, ln["unit_cost"], NULL), "cost")
             .add("updated_at", np.where(shipped_line, o["ship_t"][ln["order"]], o["placed_t"][ln["order"]]), "t"))
    events = (Frame("order_events").add("order_id", ev.order, "ref:orders")
              .add("from_status", [None if s < 0 else STATUSES[s] for s in ev.src.tolist()])
              .add("to_status", np.array(STATUSES, dtype=object)[ev.dst].tolist()).add("actor", ACTOR)
              .add("note", None).add("created_at", ev.t, "t"))
    used = np.flatnonzero(money.coupon >= 0)
    redemptions = (Frame("coupon_redemptions").add("coupon_id", money.coupon[used], "ref:coupons")
                   .add("order_id", used, "ref:orders").add("customer_id", o["customer"][used], "ref:customers")
                   .add("discount", money.coupon_value[used], "cents").add("created_at", o["placed_t"][used], "t"))
    cancel_l = o["cancel_t"][ln["order"]]
    r_status = np.where(shipped_line, "consumed", np.where(cancel_l < cutoff, "released", "active"))
    r_updated = np.where(shipped_line, o["ship_t"][ln["order"]], np.where(cancel_l < cutoff, cancel_l,
                                                                         o["placed_t"][ln["order"]]))
    reservations = (Frame("reservations").add("order_id", ln["order"], "ref:orders")
                    .add("order_line_id", np.arange(len(ln["order"])), "ref:order_lines")
                    .add("product_id", ln["product"], "ref:products")
                    .add("warehouse_id", cat.warehouse[ln["product"]], "ref:warehouses").add("quantity", ln["qty"])
                    .add("status", r_status.tolist()).add("created_at", o["placed_t"][ln["order"]], "t")
                    .add("updated_at", r_updated, "t"))
    return [orders, lines, events, redemptions, reservations]


def payment_frames(hist: History, money: Money, cat: Catalog, txns: PaymentTxns, pay_status: np.ndarray,
                   captured: np.ndarray, refunded: np.ndarray, rng: np.random.Generator) -> list[Frame]:
    o = hist.orders
    n = len(pay_status)
    m = o["method"]
    card = m == 0
    prepaid = m <= 1
    brand = np.array(BRANDS, dtype=object)[rng.integers(0, len(BRANDS), n)]
    last4 = [f"{x:04d}" for x in rng.integers(0, 10_000, n).tolist()]
    last_txn = np.zeros(n, dtype=np.int64)
    np.maximum.at(last_txn, txns.order, txns.t)
    pays = (Frame("payments").add("order_id", np.arange(n), "ref:orders")
            .add("method", np.array(METHODS, dtype=object)[m].tolist()).add("status", pay_status.tolist())
            .add("amount", money.total, "cents")
            .add("currency", np.array(cat.merchant_currency, dtype=object)[o["merchant"]].tolist())
            .add("captured_amount", captured, "cents").add("refunded_amount", refunded, "cents")
            .add("provider", np.where(prepaid, "fake", np.array(METHODS, dtype=object)[m]).tolist())
            .add("provider_token", [f"tok_sim_{i + 1}" if p else None for i, p in enumerate(prepaid.tolist())])
            .add("provider_ref", [f"pay_sim_{i + 1}" if p else None for i, p in enumerate(prepaid.tolist())])
            .add("card_brand", np.where(card, brand, None).tolist())
            .add("card_last4", [x if c else None for x, c in zip(last4, card.tolist(), strict=True)])
            .add("failure_reason", np.where(o["declined"], "declined by the issuer", None).tolist())
            .add("created_at", o["placed_t"], "t").add("updated_at", np.maximum(last_txn, o["placed_t"]), "t"))
    txn = (Frame("payment_transactions").add("payment_id", txns.order, "ref:payments").add("kind", txns.kind)
           .add("amount", txns.amount, "cents").add("outcome", txns.outcome).add("from_status", txns.src)
           .add("to_status", txns.dst).add("provider_ref", None)
           .add("message", ["card declined" if x == "declined" else None for x in txns.outcome])
           .add("reference", txns.reference, "refstr:return_requests:return:").add("actor", ACTOR)
           .add("created_at", txns.t, "t"))
    return [pays, txn]


def shipping_frames(hist: History, cat: Catalog, cutoff: int) -> list[Frame]:
    o, ln = hist.orders, hist.lines
    shipped = np.flatnonzero(o["ship_t"] < cutoff)
    local = np.full(len(o["ship_t"]), -1)
    local[shipped] = np.arange(len(shipped))
    carrier = np.array([d[3] for d in DELIVERY_OPTIONS])[o["option"][shipped]]
    ship_t, deliver_t = o["ship_t"][shipped], o["deliver_t"][shipped]
    delayed = o["delayed"][shipped]
    # the timeline: label, pick-up, in transit, (exception when delayed), out for delivery, delivered
    steps = [("label_created", ship_t, np.ones(len(shipped), bool)), ("picked_up", ship_t + 7200, None),
             ("in_transit", ship_t + 8 * 3600, None),
             ("exception", ship_t + 8 * 3600 + (deliver_t - ship_t - 10 * 3600) // 2, delayed),
             ("out_for_delivery", deliver_t - 2 * 3600, None), ("delivered", deliver_t, None)]
    parts = []
    for rank, (name, t, mask) in enumerate(steps):
        ok = (t < cutoff) & (mask if mask is not None else True)
        parts.append((np.flatnonzero(ok), rank, name, t[ok]))
    te_ship = np.concatenate([p[0] for p in parts])
    te_rank = np.concatenate([np.full(len(p[0]), p[1]) for p in parts])
    te_t = np.concatenate([p[3] for p in parts])
    by = np.lexsort((te_rank, te_t))
    te_ship, te_rank, te_t = te_ship[by], te_rank[by], te_t[by]
    names = np.array([s[0] for s in steps], dtype=object)
    status = np.array(["label_created"] * len(shipped), dtype=object)
    from ops_store.simulate.lifecycle import last_per

    who, at = last_per(te_ship)
    status[who] = names[te_rank[at]]
    status = np.where(status == "exception", "in_transit", status)  # the parcel moves on after a delay notice
    wh_of_order = cat.merchant_warehouse[o["merchant"][shipped]]
    wh_codes = np.array([w[0] for w in WAREHOUSES], dtype=object)
    shipments = (Frame("shipments").add("order_id", shipped, "ref:orders").add("warehouse_id", wh_of_order,
                                                                               "ref:warehouses")
                 .add("carrier_id", carrier, "ref:carriers")
                 .add("tracking_number", [f"SIM{CARRIERS[c][0][4:7].upper()}{i + 1:09d}"
                                          for i, c in zip(shipped.tolist(), carrier.tolist(), strict=True)])
                 .add("status", status.tolist()).add("promised_on", o["promised_day"][shipped], "day")
                 .add("shipped_at", ship_t, "t")
                 .add("delivered_at", np.where(deliver_t < cutoff, deliver_t, NULL), "t")
                 .add("created_at", ship_t, "t").add("updated_at", np.where(deliver_t < cutoff, deliver_t,
                                                                             ship_t), "t"))
    lines_shipped = np.flatnonzero(local[ln["order"]] >= 0)
    shipment_lines = (Frame("shipment_lines").add("shipment_id", local[ln["order"][lines_shipped]], "ref:shipments")
                      .add("order_line_id", lines_shipped, "ref:order_lines")
                      .add("quantity", ln["qty"][lines_shipped]))
    descriptions = np.array(["label created, parcel handed over", "picked up by the carrier", "in transit",
                             "delayed in the carrier's network", "out for delivery", "delivered"], dtype=object)
    location = np.where(te_rank == 0, wh_codes[wh_of_order[te_ship]] if len(te_ship) else [], None)
    tracking = (Frame("tracking_events").add("shipment_id", te_ship, "ref:shipments")
                .add("status", names[te_rank].tolist()).add("occurred_at", te_t, "t")
                .add("location", location.tolist()).add("description", descriptions[te_rank].tolist())
                .add("created_at", te_t, "t"))
    return [shipments, shipment_lines, tracking]


def return_frames(hist: History, money: Money, cat: Catalog, cutoff: int) -> list[Frame]:
    ln = hist.lines
    rows = np.flatnonzero(ln["return_idx"] >= 0)
    req, appr, recv, ref = (ln[k][rows] for k in ("request_t", "approve_t", "receive_t", "refund_t"))
    received = recv < cutoff
    refunded = ref < cutoff
    status = np.where(refunded, "refunded", np.where(received, "received", np.where(appr < cutoff, "approved",
                                                                                   "requested")))
    restock = ln["restock"][rows]
    line_total = (money.line_gross - money.line_discount)[rows]
    reasons = np.array(["does not fit", "not as described", "changed my mind", "arrived damaged"], dtype=object)
    last = np.where(refunded, ref, np.where(received, recv, np.where(appr < cutoff, appr, req)))
    return [Frame("return_requests").add("order_id", ln["order"][rows], "ref:orders")
            .add("order_line_id", rows, "ref:order_lines").add("quantity", ln["qty"][rows])
            .add("reason", reasons[rows % 4].tolist()).add("status", status.tolist())
            .add("received_qty", [q if r else None for q, r in zip(ln["qty"][rows].tolist(), received.tolist(),
                                                                   strict=True)])
            .add("condition", np.where(received, np.where(restock, "as new", "damaged"), None).tolist())
            .add("disposition", np.where(received, np.where(restock, "restock", "write_off"), None).tolist())
            .add("warehouse_id", np.where(received, cat.warehouse[ln["product"][rows]], -1), "ref:warehouses")
            .add("refund_amount", np.where(refunded, line_total, NULL), "cents").add("actor", ACTOR)
            .add("created_at", req, "t").add("updated_at", last, "t")]


assert NEVER > 0 and DAY > 0
