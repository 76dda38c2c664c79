"""The quota metrics, declared once: what each one counts, when it resets, and what it is called.

Everything that knows a metric (settings, periods, event validation, the ledger's effects, usage
reads, allocation, the ledger rebuild, decisions and their words) reads this table rather than
naming metrics itself. Adding a metric is one ``Metric`` entry here plus its ledger effect (how
its event moves a Redis counter: ``meter/ingest/ingestor.py`` and ``ledger/lua/ingest.lua``).

A **flow** is summed over a calendar period and starts again at zero; a **stock** is a level
(what is stored now) with no period. A **per-dataset** metric caps each dataset on its own, the
same for everyone, so it is never apportioned between signatories.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["flow", "stock"]
PeriodKind = Literal["month", "day"]
Unit = Literal["calls", "bytes", "records"]
Lang = Literal["en", "fr"]


@dataclass(frozen=True, slots=True)
class Metric:
    """One quota metric; ``label_*`` is short (tables, sentences), ``noun_*`` says it in full."""

    name: str
    kind: Kind
    period: PeriodKind | None  # when a flow starts again at zero; None for a stock
    event_type: str  # the usage event that moves it
    unit: Unit
    default_cap: int
    label_en: str
    label_fr: str
    noun_en: str
    noun_fr: str
    per_dataset: bool = False  # capped per dataset, never shared out between signatories
    fail_open: bool = False  # when Redis cannot decide: allow (a page view) or deny (a write)

    @property
    def flow(self) -> bool:
        return self.kind == "flow"

    @property
    def stock(self) -> bool:
        return self.kind == "stock"

    @property
    def apportioned(self) -> bool:
        """Shared out between signatories by the allocation policy."""
        return not self.per_dataset

    @property
    def allotted_per(self) -> PeriodKind:
        """The period of its allotment: a flow's own; a stock is allotted with the month."""
        return self.period or "month"

    def label(self, lang: Lang) -> str:
        return self.label_fr if lang == "fr" else self.label_en

    def noun(self, lang: Lang) -> str:
        return self.noun_fr if lang == "fr" else self.noun_en


# The order is the contract's (DESIGN §2): settings, API answers and reports list metrics so.
METRICS: tuple[Metric, ...] = (
    Metric("api_calls", "flow", "month", "api.call", "calls", 300_000,
           "API calls", "appels API", "calls to the portal's API", "appels à l'API du portail",
           fail_open=True),
    Metric("update_bytes", "flow", "day", "update.bytes", "bytes", 1_000_000_000,
           "bytes of updates", "octets de mises à jour", "data and content sent to the portal in a day",
           "données et contenus envoyés au portail dans la journée"),
    Metric("records", "stock", None, "dataset.records", "records", 20_000_000,
           "records", "enregistrements", "rows stored in all published datasets",
           "lignes stockées dans l'ensemble des jeux de données publiés"),
    Metric("raw_bytes", "stock", None, "dataset.records", "bytes", 9_000_000_000,
           "bytes of raw data", "octets de données brutes", "size of the published datasets",
           "taille des jeux de données publiés"),
    Metric("content_bytes", "stock", None, "content.bytes", "bytes", 30_000_000_000,
           "bytes of content", "octets de contenu", "size of pages, images and attachments",
           "taille des pages, images et pièces jointes"),
    Metric("dataset_records", "stock", None, "dataset.records", "records", 300_000,
           "records per dataset", "enregistrements par jeu de données", "rows in any one dataset",
           "lignes d'un même jeu de données", per_dataset=True),
)

BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
FLOWS: tuple[Metric, ...] = tuple(m for m in METRICS if m.flow)
STOCKS: tuple[Metric, ...] = tuple(m for m in METRICS if m.stock)
APPORTIONED: tuple[Metric, ...] = tuple(m for m in METRICS if m.apportioned)
FLOW_NAMES: tuple[str, ...] = tuple(m.name for m in FLOWS)
STOCK_NAMES: tuple[str, ...] = tuple(m.name for m in STOCKS)
# a flow's event type -> the flow it adds to (stock events set levels instead: see the ingestor)
FLOW_BY_EVENT: dict[str, str] = {m.event_type: m.name for m in FLOWS}


def metric(name: str) -> Metric:
    """The metric named ``name`` (KeyError for an unknown one: callers have validated it)."""
    return BY_NAME[name]


def is_flow(name: str) -> bool:
    m = BY_NAME.get(name)
    return m is not None and m.flow


def allotted_in(period: PeriodKind) -> tuple[str, ...]:
    """The apportioned metrics whose allotments are computed for a period of this kind."""
    return tuple(m.name for m in APPORTIONED if m.allotted_per == period)
