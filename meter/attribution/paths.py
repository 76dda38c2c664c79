"""What an OpenDataSoft portal path names: the dataset id, for the gateway hook and the collectors.

One place for the path patterns of DESIGN §4, so ``/v1/authz`` and ``meter collect access-log``
find the same dataset in the same URI.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

from meter.core.limits import MAX_NAME

_DATASET_PATHS = (
    re.compile(r"^/api/explore/v2\.[01]/catalog/datasets/([^/]+)"),
    re.compile(r"^/api/v2/catalog/datasets/([^/]+)"),
    re.compile(r"^/explore/dataset/([^/]+)"),
    re.compile(r"^/api/datasets/1\.0/([^/]+)"),
)
_QUERY_PATHS = re.compile(r"^/api/records/1\.0/")


def _split(uri: str) -> tuple[str, str]:
    """(path, query); a plain string split for the usual origin-form URI (the collector reads
    millions of them), urlsplit for anything else (an absolute URI)."""
    if uri.startswith("/") and not uri.startswith("//"):
        path, _, query = uri.partition("#")[0].partition("?")
        return path, query
    parts = urlsplit(uri)
    return parts.path, parts.query


def dataset_of(uri: str) -> str:
    """The dataset id an OpenDataSoft path names, or '' (also for one that is not printable text:
    the path is the client's, and what it decodes to must not reach the ledger script)."""
    path, query = _split(uri)
    found = ""
    for pattern in _DATASET_PATHS:
        if m := pattern.match(path):
            found = unquote(m.group(1))
            break
    else:
        if _QUERY_PATHS.match(path):
            found = (parse_qs(query).get("dataset") or [""])[0]
    return found[:MAX_NAME] if found.isprintable() else ""
