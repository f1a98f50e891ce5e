"""Incidents: lifecycle, roles, severity from customer impact, timeline, customer comms, status
page, playbooks, post-mortems and the root-cause taxonomy."""
