"""Allocation: apportioning each shared cap among the signatories by a declared policy."""
