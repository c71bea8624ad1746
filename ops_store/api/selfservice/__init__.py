"""The customers' self-service site: server-rendered pages on the same services and rules."""
