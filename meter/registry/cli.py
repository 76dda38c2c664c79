"""``meter signatories import FILE``: import a CSV file straight into the pool's Redis.

No ClickHouse is needed: the history rows go through the stream, which the service's writer
copies into ClickHouse when it runs.
"""
from __future__ import annotations

from pathlib import Path

from meter.config.settings import PoolConfig, Settings
from meter.core.clock import SystemClock
from meter.core.errors import InvalidRequest
from meter.ledger.stores import Stores
from meter.registry.csvimport import parse_csv_bytes
from meter.registry.service import Registry

CLI_LABEL = "cli"  # the ``changed_by`` of changes made from the command line


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        reason = str(exc.strerror)
        raise InvalidRequest(f"cannot read {path}: {reason}", [{"field": "file", "reason": reason}]) from None


async def import_file(settings: Settings, config: PoolConfig, path: Path) -> dict[str, int]:
    """Parse ``path`` first (a bad file never touches Redis), then import it in one transaction."""
    rows = parse_csv_bytes(read_file(path))
    stores = await Stores.open(settings.redis_url, config.pool.id, check=False, cluster=settings.redis_cluster)
    try:
        registry = Registry(stores.registry, None, config.tz, SystemClock())
        return await registry.import_rows(rows, by=CLI_LABEL)
    finally:
        await stores.close()
