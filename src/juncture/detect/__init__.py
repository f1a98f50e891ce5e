"""Detect: alerts that cross Ops and CX, and the channels that bring them to the right people."""
