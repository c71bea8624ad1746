"""Domain services. Each public function takes a ``Store`` (the unit-of-work factory), owns its
transaction, and returns plain JSON-ready data. The CLI and the API are thin callers.

Lock order, everywhere (so concurrent writers never deadlock on PostgreSQL):
the order row, then its payment, then stock_valuations by product id, then stock_levels by
(product id, warehouse id).
On SQLite every write unit of work starts with BEGIN IMMEDIATE, so writers are serialised.
"""
