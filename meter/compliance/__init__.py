"""Catalogue compliance with the convention (DESIGN §12): metadata (article 2.6) and updates (2.2)."""
