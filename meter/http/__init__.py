"""The HTTP layer: handlers only decode, call a domain service, and encode."""
