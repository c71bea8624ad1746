"""Frames for the catalog side: warehouses, merchants, suppliers, carriers, delivery options,
products and their replenishment policies."""

from __future__ import annotations

import numpy as np

from ops_store.simulate.catalog import CARRIERS, CATEGORIES, DELIVERY_OPTIONS, WAREHOUSES, Catalog
from ops_store.simulate.frame import Frame
from ops_store.simulate.stock import StockBook


def catalog_frames(cat: Catalog, book: StockBook, days: int) -> list[Frame]:
    t0 = 0
    nm, ns = len(cat.merchant_code), len(cat.supplier_merchant)
    wh = (Frame("warehouses").add("code", [w[0] for w in WAREHOUSES]).add("name", [w[1] for w in WAREHOUSES])
          .add("priority", [w[2] for w in WAREHOUSES]).add("active", True).add("created_at", t0, "t")
          .add("updated_at", t0, "t"))
    merchants = (Frame("merchants").add("code", cat.merchant_code)
                 .add("name", [f"Simulated Shop {i + 1}" for i in range(nm)])
                 .add("currency", cat.merchant_currency).add("tax_rate", cat.merchant_tax_bp, "dec:4")
                 .add("preferred_warehouse_id", cat.merchant_warehouse, "ref:warehouses")
                 .add("created_at", t0, "t").add("updated_at", t0, "t"))
    suppliers = (Frame("suppliers").add("merchant_id", cat.supplier_merchant, "ref:merchants")
                 .add("code", [f"sim-sup-{i + 1:03d}" for i in range(ns)])
                 .add("name", [f"Supplier {i + 1}" for i in range(ns)]).add("lead_time_days", cat.supplier_lead)
                 .add("created_at", t0, "t").add("updated_at", t0, "t"))
    carriers = (Frame("carriers").add("code", [c[0] for c in CARRIERS]).add("name", [c[1] for c in CARRIERS])
                .add("active", True).add("created_at", t0, "t").add("updated_at", t0, "t"))
    options = (Frame("delivery_options").add("code", [o[0] for o in DELIVERY_OPTIONS])
               .add("kind", [o[1] for o in DELIVERY_OPTIONS]).add("name", [o[2] for o in DELIVERY_OPTIONS])
               .add("carrier_id", np.array([o[3] for o in DELIVERY_OPTIONS]), "ref:carriers")
               .add("price", np.array([o[4] for o in DELIVERY_OPTIONS]), "cents")
               .add("promised_days", [o[5] for o in DELIVERY_OPTIONS]).add("active", True)
               .add("created_at", t0, "t").add("updated_at", t0, "t"))
    launched_t = np.maximum(cat.launch, 0) * 86_400
    products = (Frame("products").add("merchant_id", cat.merchant, "ref:merchants").add("sku", cat.sku)
                .add("name", cat.name).add("category", [CATEGORIES[c][0] for c in cat.category.tolist()])
                .add("price", cat.final_price(days), "cents").add("unit_cost", cat.cost, "cost")
                .add("currency", [cat.merchant_currency[m] for m in cat.merchant.tolist()])
                .add("active", (cat.retire >= days).tolist()).add("created_at", launched_t, "t")
                .add("updated_at", np.where(cat.retire < days, cat.retire * 86_400, launched_t), "t"))
    policies = Frame("replenishment_policies", has_id=False)
    policies.add("product_id", np.arange(cat.n), "ref:products").add("warehouse_id", cat.warehouse, "ref:warehouses")
    policies.add("safety_stock", np.zeros(cat.n, dtype=np.int64)).add("reorder_point", book.rop)
    policies.add("reorder_qty", book.roq).add("order_multiple", 1).add("lead_time_days", book.lead)
    policies.add("supplier_id", cat.supplier, "ref:suppliers").add("created_at", t0, "t").add("updated_at", t0, "t")
    return [wh, merchants, suppliers, carriers, options, products, policies]
