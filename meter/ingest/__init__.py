"""Ingestion: HTTP body -> CloudEvents -> validated usage events -> one ledger script per batch."""
