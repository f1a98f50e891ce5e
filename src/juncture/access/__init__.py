"""Access: users, teams, memberships, roles, API tokens and scopes, web sessions, the audit log."""
