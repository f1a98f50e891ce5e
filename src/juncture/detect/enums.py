"""Vocabulary shared by the detect room's modules (pure: no I/O)."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """Alert severities, most urgent first."""

    CRITICAL = "critical"
    HIGH = "high"
    WARNING = "warning"
    INFO = "info"
