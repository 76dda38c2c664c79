"""Grafana dashboards as code (grafana-foundation-sdk): Pool, Signatory and Operations.

``python -m dashboards`` writes the JSON under ``dashboards/json/`` (committed, provisioned by
``dashboards/provisioning/``); a test fails when the committed JSON is stale.
"""
