"""State behind the engine: one contract (base.py), an in-memory and a Redis implementation."""
