"""Scheduled jobs: the table of what runs when (APScheduler), and the ledger's reconciliation."""
