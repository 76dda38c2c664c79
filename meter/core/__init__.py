"""The core: the metric table (quotas), periods, the injected clock, errors and the problem lists."""
