"""The HTTP API edge: the FastAPI app factory, dependencies, errors, health and metrics."""
