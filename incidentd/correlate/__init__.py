"""Correlation: fingerprints, dedup, flapping, the impact map, grouping, silences. Pure."""
