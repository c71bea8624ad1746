"""The channel API (FastAPI, served by uvicorn with ``ecom api``) and the customers' self-service
site. Thin callers of ``ops_store.services``: every rule lives there."""
