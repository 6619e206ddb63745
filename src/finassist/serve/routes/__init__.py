"""Routers, one module per area: OpenAI-compatible API, sessions and ratings, KB, reports, system."""
