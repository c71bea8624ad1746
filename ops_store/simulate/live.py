"""`ecom simulate --live`: a running shop, sent through the API as channels, providers and
carriers would, so the incremental pipeline and the dashboards can be watched moving.

Each second it sends ``rate`` orders (POST /v1/orders with an Idempotency-Key) for the store's
merchants, products and customers. About one card payment in five answers "provider timed out"
at placing, and the provider's signed webhook settles it a little later (a few decline). Paid
orders are picked and shipped by the warehouse (the store's own services: warehouses are not an
API client), and each parcel then moves through its tracking steps by signed carrier webhooks,
now and then delivered twice or out of order, as carriers do."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from ops_store.api.settings import api_secret
from ops_store.db import Store
from ops_store.errors import DomainError, InvalidInput
from ops_store.models import Customer, DeliveryOption, Merchant, Product
from ops_store.payments.events import signed_body
from ops_store.services import orders, shipping
from ops_store.types import utcnow

STEPS = ("picked_up", "in_transit", "out_for_delivery", "delivered")
PENDING_SHARE = 0.2  # card payments left to the provider's webhook
DECLINE_SHARE = 0.1  # of those, declined
DUPLICATE_SHARE = 0.05  # webhook deliveries sent twice


@dataclass
class Catalog:
    merchants: dict[str, list[str]]  # merchant code -> SKUs
    customers: list[str]
    delivery_options: list[str]


@dataclass
class LiveStats:
    sent: Counter[str] = field(default_factory=Counter)  # "orders 201", "payments applied", ...
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=2000))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, what: str, latency_ms: float | None = None) -> None:
        with self.lock:
            self.sent[what] += 1
            if latency_ms is not None:
                self.latencies_ms.append(latency_ms)

    def p(self, q: float) -> float | None:
        with self.lock:
            values = sorted(self.latencies_ms)
        return values[min(len(values) - 1, int(q * len(values)))] if values else None


def load_catalog(store: Store) -> Catalog:
    with store.read() as session:
        rows = session.execute(select(Merchant.code, Product.sku).join(Product, Product.merchant_id == Merchant.id)
                               .where(Product.active.is_(True)).order_by(Merchant.code, Product.sku))
        merchants: dict[str, list[str]] = {}
        for code, sku in rows:
            merchants.setdefault(code, []).append(sku)
        customers = list(session.scalars(select(Customer.customer_ref).where(Customer.erased_at.is_(None))
                                         .order_by(Customer.id).limit(5000)))
        options = list(session.scalars(select(DeliveryOption.code).where(DeliveryOption.active.is_(True))))
    if not merchants or not options:
        raise InvalidInput("the store has no products or delivery options to sell: run `ecom simulate` (or the "
                           "demo) first", field="store")
    return Catalog(merchants, customers or [f"LIVE-{n}" for n in range(200)], options)


class LiveShop:
    """Sends the traffic; ``run`` blocks until ``duration_s`` has passed or ``stop`` is set."""

    def __init__(self, store: Store, api_url: str, api_key: str, *, rate: float, seed: int = 7,
                 clients: int = 8) -> None:
        if rate <= 0:
            raise InvalidInput("--rate must be more than 0 orders a second", field="rate")
        self.store, self.rate, self.random = store, rate, random.Random(seed)
        self.catalog = load_catalog(store)
        self.http = httpx.Client(base_url=api_url.rstrip("/"), timeout=30,
                                 limits=httpx.Limits(max_connections=clients))
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self._check_api(api_url)
        self.pool = ThreadPoolExecutor(max_workers=clients)
        self.stats = LiveStats()
        self.stop = threading.Event()
        self.pending_payments: deque[tuple[float, dict[str, Any]]] = deque()
        self.parcels: dict[str, int] = {}  # tracking number -> steps done
        self.run_id = uuid.uuid4().hex[:6]
        self._lock = threading.Lock()

    def _check_api(self, api_url: str) -> None:
        try:
            ready = self.http.get("/v1/ready")
        except httpx.HTTPError:
            self.http.close()
            raise InvalidInput(f"no API answers at {api_url}: start it with `ecom api` (or give --api-url)",
                               field="api_url") from None
        if ready.status_code != 200:
            self.http.close()
            raise InvalidInput(f"the API at {api_url} is not ready: {ready.text[:200]}", field="api_url")

    # ----------------------------------------------------------------------------------- orders
    def _document(self, n: int) -> dict[str, Any]:
        merchant = self.random.choice(sorted(self.catalog.merchants))
        skus = self.random.sample(self.catalog.merchants[merchant], k=min(len(self.catalog.merchants[merchant]),
                                                                          self.random.choice((1, 1, 2, 3))))
        method = self.random.choices(("card", "e_wallet", "bank_transfer", "cash_on_delivery"), (6, 2, 1, 1))[0]
        payment: dict[str, Any] = {"method": method}
        if method in ("card", "e_wallet"):
            pending = self.random.random() < PENDING_SHARE
            payment["token"] = f"tok_timeout_{n}" if pending else f"tok_live_{n}"
        if method == "card":
            last4 = f"{self.random.randint(0, 9999):04d}"
            payment.update(brand=self.random.choice(("visa", "mastercard")), last4=last4)
        return {"channel": self.random.choice(("web", "web", "mobile_app", "marketplace")),
                "channel_order_ref": f"LIVE-{self.run_id}-{n}", "merchant": merchant,
                "customer_ref": self.random.choice(self.catalog.customers),
                "lines": [{"sku": s, "qty": self.random.choice((1, 1, 1, 2))} for s in skus],
                "delivery_option": self.random.choice(self.catalog.delivery_options), "payment": payment}

    def _send_order(self, document: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            answer = self.http.post("/v1/orders", json=document,
                                    headers={**self.headers, "Idempotency-Key": document["channel_order_ref"]})
        except httpx.HTTPError as exc:
            self.stats.count(f"orders failed ({type(exc).__name__})")
            return
        self.stats.count(f"orders {answer.status_code}", (time.perf_counter() - started) * 1000)
        if answer.status_code == 201:
            order = answer.json()
            if order["payment"] and order["payment"]["status"] == "pending" and document["payment"].get("token"):
                with self._lock:
                    self.pending_payments.append((time.monotonic() + self.random.uniform(0.5, 3), order))

    # --------------------------------------------------------------------------------- webhooks
    def _post_signed(self, path: str, event: dict[str, Any], secret: str, what: str) -> None:
        body, headers = signed_body(event, secret)
        for _ in range(2 if self.random.random() < DUPLICATE_SHARE else 1):
            try:
                answer = self.http.post(path, content=body, headers=headers)
                outcome = answer.json().get("outcome", answer.status_code) if answer.status_code == 200 else \
                    answer.status_code
                self.stats.count(f"{what} {outcome}")
            except (httpx.HTTPError, ValueError) as exc:
                self.stats.count(f"{what} failed ({type(exc).__name__})")

    def _settle_payments(self) -> None:
        now = time.monotonic()
        while True:
            with self._lock:
                if not self.pending_payments or self.pending_payments[0][0] > now:
                    return
                _, order = self.pending_payments.popleft()
            declined = self.random.random() < DECLINE_SHARE
            event = {"id": f"evt_{uuid.uuid4().hex}", "created_at": utcnow().isoformat(),
                     "type": "payment.failed" if declined else (
                         "payment.captured" if order["payment"]["method"] == "e_wallet" else "payment.authorized"),
                     "data": {"order_id": order["order_id"], "amount": order["total"], "currency": order["currency"],
                              "provider_ref": f"fake_live_{order['order_id']}",
                              "reason": "card declined" if declined else None}}
            self._post_signed("/v1/webhooks/payments/fake", event, api_secret("payment_webhook_secret"), "payments")

    def _ship_paid(self, limit: int = 50) -> None:
        """The warehouse: allocate and ship what is paid (or cash on delivery), oldest first."""
        for status in ("paid", "placed"):
            for row in orders.list_orders(self.store, status=status, limit=limit):
                try:
                    orders.allocate_order(self.store, row["order_id"], actor="warehouse")
                    view = shipping.ship_order(self.store, row["order_id"], actor="warehouse")
                except DomainError:
                    continue  # placed but not paid yet, or moved on meanwhile
                for parcel in view["shipments"]:
                    self.parcels.setdefault(parcel["tracking_number"], 0)
                self.stats.count("orders shipped")

    def _track(self) -> None:
        carrier_of: dict[str, str] = {}
        for number, done in list(self.parcels.items()):
            if done >= len(STEPS) or self.random.random() < 0.5:
                continue
            if number not in carrier_of:
                carrier_of[number] = shipping.find_shipment(self.store, number)["carrier"]
            steps = [done] if self.random.random() > 0.1 or done + 1 >= len(STEPS) else [done + 1, done]
            for step in steps:  # now and then the next step overtakes this one
                at = utcnow() + timedelta(minutes=step)
                event = {"id": f"trk_{number}_{STEPS[step]}", "tracking_number": number, "status": STEPS[step],
                         "occurred_at": at.isoformat(), "location": "hub", "description": STEPS[step]}
                self._post_signed(f"/v1/webhooks/carriers/{carrier_of[number]}", event,
                                  api_secret("carrier_webhook_secret"), "tracking")
            self.parcels[number] = max(steps) + 1
            if self.parcels[number] >= len(STEPS):
                del self.parcels[number]

    # -------------------------------------------------------------------------------------- run
    def chores(self) -> None:
        """One round of the back office: settle due payments, ship what is paid, move parcels on."""
        self._settle_payments()
        self._ship_paid()
        self._track()

    def _chores_loop(self, done: threading.Event, on_tick: Callable[[LiveStats], None] | None) -> None:
        while not done.wait(1.0):
            self.chores()
            if on_tick:
                on_tick(self.stats)

    def run(self, duration_s: float, on_tick: Callable[[LiveStats], None] | None = None) -> LiveStats:
        """Send orders at the rate (the back office runs beside, once a second)."""
        started, n = time.monotonic(), 0
        interval = 1.0 / self.rate
        done = threading.Event()
        back_office = threading.Thread(target=self._chores_loop, args=(done, on_tick), daemon=True)
        back_office.start()
        try:
            while not self.stop.is_set() and time.monotonic() - started < duration_s:
                wait = started + n * interval - time.monotonic()
                if wait > 0:
                    self.stop.wait(min(wait, 0.25))
                    continue
                self.pool.submit(self._send_order, self._document(n))
                n += 1
        finally:
            self.pool.shutdown(wait=True)
            done.set()
            back_office.join()
        return self.stats

    def close(self) -> None:
        self.http.close()
