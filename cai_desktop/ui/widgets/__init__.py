"""Reusable widgets: paged table model, line chart, dataclass form, error dialog."""
