"""The operational store: the back office of the ecom platform.

Public entry points (nothing happens at import):
- ``ops_store.settings.StoreSettings``: configuration from the environment.
- ``ops_store.db.Store``: engine, sessions and units of work for one database URL.
- ``ops_store.services``: domain operations (catalog, stock, orders, payments, shipping, returns).
- ``ops_store.models``: SQLAlchemy models (the read API for the pipeline).
"""
