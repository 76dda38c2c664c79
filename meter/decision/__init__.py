"""Decisions: the gateway's hot path (check, authz, reservations), one Redis script per batch."""
