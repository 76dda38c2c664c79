"""Settings: every METER_* variable, and the pool file (TOML), validated once at start-up."""
