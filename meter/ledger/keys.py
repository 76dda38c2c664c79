"""Every Redis key the service uses, built here; the Lua scripts derive a few from the pool's
prefix, and tests/test_keys.py keeps their spelling the same as here.

All keys of one pool share the hash tag ``{pool}``, so a Lua script that touches several of them
stays on one Redis Cluster slot, and pools shard across a cluster.
"""
from __future__ import annotations

import hashlib


class Keys:
    def __init__(self, pool: str) -> None:
        self.pool = pool
        self.prefix = f"meter:{{{pool}}}:"

    # ingestion
    def seen(self, source: str, event_id: str, namespace: str = "") -> str:
        """Dedup marker of one (source, id); a digest keeps long ids from costing memory.

        ``namespace``: the signatory a bound token sends for (DESIGN §4), so that a bound producer
        can never make another producer's event a duplicate; '' for unbound tokens."""
        name = f"{source}\x00{event_id}" if not namespace else f"\x01{namespace}\x00{source}\x00{event_id}"
        return self.seen_digest(hashlib.blake2b(name.encode(), digest_size=12).hexdigest())

    def seen_digest(self, digest: str) -> str:
        """The dedup marker of a digest kept in history (``events.check_keys``): restored on rebuild."""
        return f"{self.prefix}seen:{digest}"

    def seen_check(self, check_id: str) -> str:
        """Dedup marker of a consumed check, shared with ``api.call`` events that name it."""
        return self.seen("\x00check", check_id)

    @property
    def stream(self) -> str:
        return f"{self.prefix}stream"

    @property
    def backlog(self) -> str:
        """Events in the stream not yet written to ClickHouse (the writer's lag)."""
        return f"{self.prefix}backlog"

    @property
    def writer_inflight(self) -> str:
        """The stream range the writer is inserting: re-inserted as is after a crash."""
        return f"{self.prefix}writer:inflight"

    # ledger: current counters
    def flow(self, metric: str, period_label: str) -> str:
        """Hash of a flow's counters for one period: field per signatory, ``*`` for the pool."""
        return f"{self.prefix}flow:{metric}:{period_label}"

    def stock(self, metric: str) -> str:
        """Hash of a stock's totals: field per signatory, ``*`` for the pool."""
        return f"{self.prefix}stock:{metric}"

    def dataset(self, dataset: str) -> str:
        """Hash of one dataset's last snapshot: sig, a (records), b (raw_bytes), t (ms)."""
        return f"{self.prefix}ds:{dataset}"

    def content_object(self, name: str) -> str:
        """Hash of one content object's last snapshot: sig, a (bytes), b (0), t (ms)."""
        return f"{self.prefix}obj:{name}"

    @property
    def datasets_index(self) -> str:
        """Set of the hashes of the datasets whose stock is not 0: its size is bounded (max_datasets)."""
        return f"{self.prefix}index:ds"

    @property
    def objects_index(self) -> str:
        """Set of the hashes of the content objects whose size is not 0 (max_objects)."""
        return f"{self.prefix}index:obj"

    # registry
    @property
    def signatories(self) -> str:
        """Hash: signatory id -> its current record (JSON)."""
        return f"{self.prefix}signatories"

    @property
    def signatory_ids(self) -> str:
        """Set of every id ever registered (left ones included): attribution of events."""
        return f"{self.prefix}signatory_ids"

    @property
    def hosts(self) -> str:
        """Hash: host name -> signatory id (gateway lookup)."""
        return f"{self.prefix}hosts"

    # hot path
    def reservation(self, rid: str) -> str:
        return f"{self.prefix}resv:{rid}"

    def reservation_expired(self, rid: str) -> str:
        """Marker of a reservation that expired (kept a day), so that committing it is a 409."""
        return f"{self.prefix}resv_expired:{rid}"

    @property
    def reservations(self) -> str:
        """Sorted set of reservation ids by expiry (ms)."""
        return f"{self.prefix}resv_expiry"

    def held(self, metric: str) -> str:
        """Hash of held (reserved) amounts: field per signatory, ``*`` for the pool."""
        return f"{self.prefix}held:{metric}"

    def allotments(self, metric: str, period_label: str) -> str:
        """Hash the decide script reads: signatory -> allotment, and _on (allotments in force: a
        signatory without one gets 0), _borrowing, _burst_cap, _burst_used."""
        return f"{self.prefix}allot:{metric}:{period_label}"

    def elastic(self, metric: str, period_label: str) -> str:
        """Hash of the elastic policy's protection index (decide.lua): _e, _sa, _sx, and per
        signatory "group:use"; named in the allotment hash, so the script never builds it."""
        return f"{self.prefix}elastic:{metric}:{period_label}"

    def elastic_rank(self, metric: str, period_label: str) -> str:
        """Sorted set of the signatories ahead of pace, by use / guarantee (the index's order)."""
        return f"{self.prefix}elastic_rank:{metric}:{period_label}"

    def allocation(self, period_label: str) -> str:
        """The stored allocation document of a period (JSON), as GET /v1/allocations answers it."""
        return f"{self.prefix}allocation:{period_label}"

    def allocation_inputs(self, period_label: str) -> str:
        """Fingerprint of what a period's stored allocation was computed from (registry, settings)."""
        return f"{self.prefix}allocation_inputs:{period_label}"

    def denials(self, minute: int) -> str:
        """Hash of one minute's denials: field "signatory\\x1fmetric\\x1fscope" -> count."""
        return f"{self.prefix}denials:{minute}"

    @property
    def denial_minutes(self) -> str:
        """Sorted set of the minutes that have denials not yet moved to ClickHouse."""
        return f"{self.prefix}denial_minutes"

    @property
    def ledger_epoch(self) -> str:
        """Present while the ledger is complete; its absence means Redis lost it."""
        return f"{self.prefix}ledger_epoch"

    # reports and alerts (meter/mail, meter/reports, meter/alerts)
    def outbox_entry(self, entry_id: str) -> str:
        """Hash of one outgoing message or webhook: kind, payload, status, attempts, error, times."""
        return f"{self.prefix}outbox:{entry_id}"

    @property
    def outbox_due(self) -> str:
        """Sorted set of outbox entries not yet delivered, by the time of their next attempt (ms)."""
        return f"{self.prefix}outbox_due"

    @property
    def outbox_claims(self) -> str:
        """Hash of the outbox entries an attempt holds: entry id -> the token of the delivery's lock."""
        return f"{self.prefix}outbox_claims"

    def report_sends(self, month: str) -> str:
        """Hash of a month's reports: signatory (or ``pool``) -> its send record (JSON)."""
        return f"{self.prefix}reports:{month}"

    @property
    def reports_todo(self) -> str:
        """Set of "month/id" reports queued for sending but not yet in the outbox."""
        return f"{self.prefix}reports_todo"

    def alerts(self, month: str) -> str:
        """Hash of the alerts fired in a month (its days' included): alert key -> alert (JSON)."""
        return f"{self.prefix}alerts:{month}"

    # the partners' pages (DESIGN §11): links are stored by the hash of their key, never the key
    def portal_link(self, digest: str) -> str:
        """One live link, by its key's SHA-256 (hex); its TTL is the link's expiry."""
        return f"{self.prefix}portal:link:{digest}"

    def portal_gone(self, digest: str) -> str:
        """The expiry (ms) of a link, kept past it so that an expired link answers 410, not 404."""
        return f"{self.prefix}portal:gone:{digest}"

    @property
    def portal_links(self) -> str:
        """Hash: link id -> the link's record (JSON: scope, signatory, digest, times); listing, revoking."""
        return f"{self.prefix}portal:links"

    def lock(self, name: str) -> str:
        return f"{self.prefix}lock:{name}"

    @property
    def pattern(self) -> str:
        """SCAN pattern of every key of the pool (tests clean up with it)."""
        return f"meter:{{{self.pool}}}:*"
