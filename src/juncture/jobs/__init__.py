"""The periodic job runner (an edge): rooms declare jobs in their ``jobs.py``, this runs them."""
