"""Catalog: the shared vocabulary of both sides: services, journeys, regions, channels."""
