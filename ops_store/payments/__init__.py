"""Payment provider interface, the fake provider, and the guard against card data."""
