"""Lengths of the names the service keeps: the contract states them, attribution cuts to them."""

MAX_ID = 256  # an event's or a check's id
MAX_SUBJECT = 128  # a signatory id
MAX_NAME = 512  # a dataset, object, host, source or publisher
