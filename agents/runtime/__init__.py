"""Model runtime: providers, built-in tools and the agent loop (pure async, no Django)."""
