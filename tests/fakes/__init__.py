"""Fake vendor servers: small aiohttp apps on 127.0.0.1 that check each request against the
vendor's documented shape, record it, and answer as the vendor does, scriptable per test."""
