"""Body decoding: content types, NDJSON, gzip and its limits (pure)."""
import gzip

import pytest

from meter.core.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from meter.ingest.body import decode_events


def test_shapes():
    assert decode_events("application/json", "", b'{"a":1}', 1000) == [{"a": 1}]
    assert decode_events("application/json", "", b'[{"a":1},{"a":2}]', 1000) == [{"a": 1}, {"a": 2}]
    assert decode_events("application/cloudevents-batch+json", "", b"[]", 1000) == []
    assert decode_events("application/x-ndjson", "", b'{"a":1}\n\n{"a":2}\n', 1000) == [{"a": 1}, {"a": 2}]


def test_gzip():
    assert decode_events("application/x-ndjson", "gzip", gzip.compress(b'{"a":1}\n'), 1000) == [{"a": 1}]


def test_wrong_gzip_is_400():
    with pytest.raises(InvalidRequest):
        decode_events("application/json", "gzip", b"not gzip at all", 1000)
    with pytest.raises(InvalidRequest):
        decode_events("application/json", "gzip", gzip.compress(b'{"a":1}')[:-6], 1000)


def test_gzip_bomb_is_413():
    with pytest.raises(PayloadTooLarge):
        decode_events("application/json", "gzip", gzip.compress(b" " * 100_000), 1000)


def test_malformed_and_mismatched():
    with pytest.raises(InvalidRequest) as err:
        decode_events("application/x-ndjson", "", b'{"a":1}\n{oops\n\n{"b":2}\n[x\n', 1000)
    assert err.value.type == "invalid_events"  # every bad line named, by its event's index and line
    assert [(d["index"], d["reason"][:19]) for d in err.value.details] == [(1, "line 2 is not JSON:"),
                                                                          (3, "line 5 is not JSON:")]
    with pytest.raises(InvalidRequest):
        decode_events("application/cloudevents+json", "", b"[]", 1000)
    with pytest.raises(InvalidRequest):
        decode_events("application/cloudevents-batch+json", "", b"{}", 1000)
    with pytest.raises(InvalidRequest):
        decode_events("application/json", "", b"42", 1000)


def test_unsupported_types_and_encodings():
    with pytest.raises(UnsupportedMediaType):
        decode_events("text/plain", "", b"{}", 1000)
    with pytest.raises(UnsupportedMediaType):
        decode_events("application/json", "br", b"{}", 1000)
