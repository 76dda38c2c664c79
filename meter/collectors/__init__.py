"""Collectors: producers that turn what the portal already records into usage events (DESIGN §9).

``access_log`` reads the gateway's JSON access log, ``ods`` the portal's catalogue export; both
POST to ``/v1/events`` through ``sender`` and remember what was accepted in ``state``. They send
no subject: the service attributes (``meter.attribution.events``).
"""
