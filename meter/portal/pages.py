"""The pages a link opens (DESIGN §11): gather a month's figures, build the view, render it.

Server-rendered HTML (jinja2, autoescaped), no script. The figures are the monthly report's
(``Reports.figures``), read without next month's projection, which the pages do not show.
"""
from __future__ import annotations

import asyncio
import hashlib
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

import jinja2

from meter.alerts.service import Alerts
from meter.config.settings import PoolConfig
from meter.core.clock import Clock
from meter.core.errors import NotFound, StoreUnavailable
from meter.core.periods import Period, local_day
from meter.portal.view import Views, report_months
from meter.registry.service import Registry
from meter.reports.lines import POOL
from meter.reports.service import Reports, active_in

STATIC = ("portal.css",)
ERRORS: dict[int, tuple[str, list[str], str]] = {
    404: ("Lien inconnu", ["Cette adresse ne correspond à aucune page de suivi : elle a pu être mal copiée, "
                           "ou le lien a été retiré."],
          "Vérifiez que l'adresse est complète, ou demandez un nouveau lien à l'équipe de la Région qui gère "
          "le portail."),
    410: ("Ce lien a expiré", ["Les liens vers les pages de suivi ne durent qu'un temps, pour protéger vos "
                               "chiffres. Celui-ci n'est plus valable."],
          "Demandez un nouveau lien à l'équipe de la Région qui gère le portail. Chaque rapport mensuel en "
          "contient aussi un nouveau."),
    400: ("Adresse incorrecte", ["Le mois demandé n'est pas au format attendu (par exemple 2026-11)."],
          "Revenez à la page sans rien ajouter à son adresse."),
    503: ("Page momentanément indisponible", ["Le service ne peut pas lire les chiffres pour le moment."],
          "Réessayez dans quelques minutes."),
}


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("meter.portal", "templates"),
                              autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


@cache
def static_file(name: str) -> bytes:
    if name not in STATIC:
        raise NotFound(f"no static file {name!r}")
    return resources.files("meter.portal").joinpath("static", name).read_bytes()


@cache
def css_version() -> str:
    return hashlib.sha256(static_file("portal.css")).hexdigest()[:12]


class Pages:
    def __init__(self, reports: Reports | None, registry: Registry, alerts: Alerts, config: PoolConfig,
                 clock: Clock) -> None:
        self.reports, self.registry, self.alerts, self.config, self.clock = reports, registry, alerts, config, clock
        self.views = Views(config)

    def _reports(self) -> Reports:
        if self.reports is None:
            raise StoreUnavailable("this worker process does not own the store; the pages are served by the one "
                                   "that does")
        return self.reports

    def today(self) -> date:
        return local_day(self.clock.now(), self.config.tz)

    def _page(self, template: str, up: str, **values: Any) -> str:
        return _env().get_template(template).render(up=up, css_version=css_version(),
                                                    pool_name=self.config.pool.name, **values)

    async def partner(self, sig: str, period: Period, up: str, reports_base: str, back: str | None = None) -> str:
        record = await self.registry.get_or_none(sig)
        if record is None:
            raise NotFound(f"no signatory {sig!r}")
        reports = self._reports()
        figures, everyone, alerts = await asyncio.gather(
            reports.figures(period, project=False, only=sig), self.registry.list(), self.alerts.list(period, sig, sig))
        others = {r["id"]: r.get("name") or r["id"] for r in everyone}
        today = self.today()
        view = self.views.partner(figures, sig, record, others, today, alerts,
                                  report_months(date.fromisoformat(record["joined_at"]), today))
        return self._page("partner.html", up, v=view, reports_base=reports_base, back=back)

    async def pool(self, period: Period, sort: str, up: str, partner_base: str) -> str:
        reports = self._reports()
        figures, everyone = await asyncio.gather(reports.figures(period, project=False), self.registry.list())
        names = {r["id"]: r.get("name") or r["id"] for r in everyone if active_in(r, period)}
        view = self.views.pool(figures, names, self.today(), sort)
        return self._page("pool.html", up, v=view, partner_base=partner_base)

    def error(self, status: int, up: str) -> str:
        heading, lines, todo = ERRORS.get(status, ERRORS[503])
        emails = list(self.config.reports.admins) if status in (404, 410) else []
        return self._page("error.html", up, heading=heading, lines=lines, todo=todo, emails=emails)

    async def report_file(self, sig: str, period: Period, fmt: str) -> bytes:
        """A finished month's report of ``sig`` (or the pool's), as PDF or CSV."""
        if period.end > self.clock.now():
            raise NotFound("only a finished month has a report to download")
        if sig != POOL:
            record = await self.registry.get_or_none(sig)
            if record is None or period.label not in report_months(date.fromisoformat(record["joined_at"]),
                                                                   self.today(), keep=400):
                raise NotFound("no report for this month")
        rendered = await self._reports().report(period, sig)
        return await asyncio.to_thread(rendered.pdf if fmt == "pdf" else rendered.csv)  # CPU: off the loop
