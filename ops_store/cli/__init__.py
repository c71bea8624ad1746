"""The `ecom` command line: thin callers of the services."""
