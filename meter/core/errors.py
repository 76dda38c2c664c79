"""One exception hierarchy; the HTTP layer maps each class to a status (``STATUS`` in
``meter.http.middleware``).

Adapters translate their drivers' errors into these, so the domain never sees a redis-py or
ClickHouse exception.
"""
from __future__ import annotations

from typing import Any


class MeterError(Exception):
    """Base of every error the service raises on purpose."""

    type = "internal"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None, omitted: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.omitted = omitted  # problems left out of ``details`` before it was built (see core/problems)


class ConfigError(MeterError):
    """The environment or the pool file is wrong; start-up stops."""

    type = "config"


class InvalidRequest(MeterError):
    """The request is malformed or a field is wrong (400); ``details`` names each problem."""

    type = "invalid_request"


class InvalidEvents(InvalidRequest):
    """One or more events of a batch are invalid; nothing of the batch was accepted (400)."""

    type = "invalid_events"


class Unauthorized(MeterError):
    """No token, or a token that is not configured (401)."""

    type = "unauthorized"


class Forbidden(MeterError):
    """The token's role or signatory binding does not allow this (403)."""

    type = "forbidden"


class NotFound(MeterError):
    """The named resource does not exist (404)."""

    type = "not_found"


class Gone(MeterError):
    """The named thing existed and no longer does: an expired portal link, or one whose partner
    left (410)."""

    type = "gone"


class Conflict(MeterError):
    """The request contradicts the current state (409)."""

    type = "conflict"


class AllocationError(Conflict):
    """Allotments cannot be computed from this input (or a policy broke an invariant): 409."""

    type = "allocation_error"


class RequestTimeout(MeterError):
    """The body was not received in full within ``body_timeout_s`` (408; the connection is closed)."""

    type = "request_timeout"


class NotOwner(Conflict):
    """A bound producer's snapshot of a dataset or object that belongs to another signatory (409);
    nothing of the batch was accepted."""

    type = "not_owner"


class TooManyItems(Conflict):
    """A snapshot would add one more dataset (or object) than the pool keeps (409)."""

    type = "too_many_datasets"

    def __init__(self, kind: str, most: int, index: int | None) -> None:
        super().__init__(f"the pool keeps at most {most} {kind}; none of the batch was accepted",
                         [{"index": index, "field": "data", "reason": f"one more than the {most} {kind} kept"}])
        self.kind = kind
        self.type = f"too_many_{kind}"


class TotalOverflow(Conflict):
    """A total would pass 2^53 - 1, where numbers stop being exact (409); nothing was accepted."""

    type = "total_overflow"


class PayloadTooLarge(MeterError):
    """The body is larger than the configured limit (413)."""

    type = "payload_too_large"


class UnsupportedMediaType(MeterError):
    """The content type or encoding is not one the endpoint reads (415)."""

    type = "unsupported_media_type"


class Unavailable(MeterError):
    """A dependency is down or the backlog is full; retry later (503 with Retry-After)."""

    type = "unavailable"

    def __init__(self, message: str, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreUnavailable(Unavailable):
    """ClickHouse (server or embedded) did not answer or failed."""

    type = "store_unavailable"


class LedgerUnavailable(Unavailable):
    """Redis did not answer in time or refused the command."""

    type = "ledger_unavailable"


class LedgerLost(LedgerUnavailable):
    """Redis answers but has lost the ledger (flushed, failed over): it must be rebuilt first."""

    type = "ledger_lost"


class ReplicasBehind(LedgerUnavailable):
    """A write reached fewer Redis replicas than ``METER_REDIS_WAIT_REPLICAS`` in time (503): it
    may be lost by a failover, so it is not acknowledged; the client's retry is deduplicated."""

    type = "replicas_behind"


class BacklogFull(Unavailable):
    """The stream of events not yet written to ClickHouse is at its maximum length."""

    type = "backlog_full"


class StoreQueryError(MeterError):
    """ClickHouse rejected a statement: a bug or a schema mismatch, not bad input."""

    type = "store_error"


class ScriptRefused(MeterError):
    """A ledger script refused its arguments before it wrote anything: a caller's bug, never the
    client's input (which is validated first). Safe to retry without the arguments at fault."""

    nothing_changed = True


class IdConflict(Conflict):
    """A check's ``id`` was already used for a different request (409); nothing was decided."""

    nothing_changed = True


class ReservationExpired(Conflict):
    """A commit of a reservation that expired and released itself (409): its capacity is gone."""

    type = "reservation_expired"

    def __init__(self, rid: str) -> None:
        super().__init__(f"reservation {rid!r} expired and released itself: nothing was committed",
                         [{"field": "id", "reason": "the reservation expired"}])


class ReservationExceeded(Conflict):
    """A commit of more than the reservation holds (409): its amount is stored state, not syntax."""

    type = "reservation_exceeded"
