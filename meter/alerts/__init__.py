"""Quota alerts: thresholds and forecasts, fired once per key, by email and signed webhook."""
