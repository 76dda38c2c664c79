"""meter: quota accounting and metering for a shared open-data portal subscription."""
__version__ = "0.1.0"
