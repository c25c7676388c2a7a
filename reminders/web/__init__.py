"""The staff console and the REST API: one FastAPI application."""
