from ops_store.services import orders, stock
from tests.factories import order_doc


def test_place_order_reserves_stock(shop):
    placed = orders.place_order(shop.store, order_doc("W-1", [("SKU-1", 12)]))
    assert placed["status"] == "paid"
    rows = {r["warehouse"]: r for r in stock.stock_show(shop.store, "SKU-1")}
    assert rows["W1"]["reserved"] + rows["W2"]["reserved"] == 12
