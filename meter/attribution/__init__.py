"""Attribution: which signatory an event or a gateway call belongs to (host, publisher, dataset path)."""
