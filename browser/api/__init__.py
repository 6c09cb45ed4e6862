"""The browser chat API (docs/api.md §10); see docs/architecture.md for the layout."""
