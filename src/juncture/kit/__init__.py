"""Small shared building blocks used by every room: clock, errors, ids, logging, pagination."""
