"""SQLAlchemy models of the operational store (also the pipeline's read API)."""

from ops_store.models.access import ApiClient, AuditEntry, User
from ops_store.models.api import ApiRateLimit, IdempotencyKey, InboundEvent, SignInLink
from ops_store.models.base import Base
from ops_store.models.catalog import Merchant, Product, Supplier, Warehouse
from ops_store.models.crm import Communication, Review, SurveyResponse, Ticket, TicketMessage
from ops_store.models.customers import Customer, CustomerAddress, CustomerConsent
from ops_store.models.intake import RejectedRequest
from ops_store.models.loyalty import LoyaltyAccount, LoyaltyEntry, LoyaltyProgramme, LoyaltyTier, TierChange
from ops_store.models.marketing import Campaign, CampaignMember, Coupon, CouponRedemption
from ops_store.models.notifications import Notification
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
    "ApiRateLimit", "IdempotencyKey", "InboundEvent", "SignInLink",
    "ApiClient", "AuditEntry", "Campaign", "CampaignMember", "Communication", "Coupon", "CouponRedemption",
    "CustomerAddress", "CustomerConsent", "LoyaltyAccount", "LoyaltyEntry", "LoyaltyProgramme", "LoyaltyTier",
    "Review", "SurveyResponse", "Ticket", "TicketMessage", "TierChange", "User",
    "Base", "Carrier", "Customer", "DeliveryOption", "Merchant", "Notification", "Order", "OrderEvent", "OrderLine",
    "Payment", "PaymentTransaction", "Product", "PurchaseOrder", "PurchaseOrderLine",
    "RejectedRequest", "ReplenishmentPolicy", "Reservation", "ReturnRequest", "Shipment", "ShipmentLine", "StockAlert",
    "StockCount", "StockCountLine", "StockLevel", "StockMovement", "StockValuation", "Supplier",
    "TrackingEvent", "Warehouse",
]
