"""Security: personal-data encryption, passwords and API keys, permissions, the audit log."""
