"""The HTTP surface: webhooks in, health and metrics out. Knows no source's payload."""
