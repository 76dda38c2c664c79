"""Mail: the SMTP adapter and the outbox that keeps every message until it is delivered."""
