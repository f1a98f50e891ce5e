"""Signals: ingest of both sides' events, validation, quarantine, dedup, PII redaction, rollups."""
