"""The shop simulator: a coherent, deterministic history written through the bulk path.

``run.simulate(store, config)`` is the entry point (``ecom simulate`` calls it)."""
