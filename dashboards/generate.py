"""Build every dashboard and encode it as the JSON that Grafana provisions."""
from __future__ import annotations

import json

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards import clickhouse, operations, pool, signatory
from dashboards.catalogue import JSON_DIR

clickhouse.register()  # the SDK then reads these queries back from JSON too
BUILDERS = {"pool": pool.build, "signatory": signatory.build, "operations": operations.build}


def render(name: str) -> str:
    """The dashboard's JSON text, stable (sorted keys) so that a diff shows real changes."""
    model = BUILDERS[name]().build()
    return json.dumps(json.loads(JSONEncoder().encode(model)), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def stale() -> list[str]:
    """The dashboards whose committed JSON differs from what the code builds."""
    return [name for name in BUILDERS
            if not (JSON_DIR / f"{name}.json").exists()
            or (JSON_DIR / f"{name}.json").read_text(encoding="utf-8") != render(name)]


def write() -> list[str]:
    JSON_DIR.mkdir(exist_ok=True)
    changed = stale()
    for name in changed:
        (JSON_DIR / f"{name}.json").write_text(render(name), encoding="utf-8")
    return changed
