"""SQLAlchemy models of the operational store (also the pipeline's read API)."""

from ops_store.models.base import Base
from ops_store.models.catalog import Customer, Merchant, Product, Supplier, Warehouse
from ops_store.models.intake import RejectedRequest
from ops_store.models.orders import Order, OrderEvent, OrderLine
from ops_store.models.payments import Payment, PaymentTransaction
from ops_store.models.returns import ReturnRequest
from ops_store.models.shipping import Carrier, DeliveryOption, Shipment, ShipmentLine, TrackingEvent
from ops_store.models.stock import (
    PurchaseOrder,
    PurchaseOrderLine,
    ReplenishmentPolicy,
    Reservation,
    StockAlert,
    StockCount,
    StockCountLine,
    StockLevel,
    StockMovement,
    StockValuation,
)

__all__ = [
    "Base", "Carrier", "Customer", "DeliveryOption", "Merchant", "Order", "OrderEvent", "OrderLine",
    "Payment", "PaymentTransaction", "Product", "PurchaseOrder", "PurchaseOrderLine",
    "RejectedRequest", "ReplenishmentPolicy", "Reservation", "ReturnRequest", "Shipment", "ShipmentLine", "StockAlert",
    "StockCount", "StockCountLine", "StockLevel", "StockMovement", "StockValuation", "Supplier",
    "TrackingEvent", "Warehouse",
]
