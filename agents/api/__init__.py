"""The agents app's REST API: one module per resource (see docs/architecture.md)."""
