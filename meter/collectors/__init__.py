"""Collectors: producers that read usage from the portal and send events (none yet)."""
