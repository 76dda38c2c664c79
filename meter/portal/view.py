"""What a partner's page and the pool's page show (DESIGN §11), as plain values for the templates.

The figures are the monthly report's (``meter.reports.figures``: the same rollups, read the same
way), cut for one partner or for the pool. Every sentence is written here, in French, for a town
hall's secretary: what is left this month, at what pace, what uses it most, what happens when it
runs out, who to ask. A partner's view names no other partner: the explanation of its share is
anonymised, and only its own alerts and datasets are listed.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from meter.alerts import rules
from meter.compliance.checks import DatasetCheck, summarise
from meter.config.settings import METRICS, PoolConfig
from meter.core.periods import Period, local_day
from meter.reports import compliance as compliance_words
from meter.reports import lines as L
from meter.reports.figures import MonthFigures
from meter.reports.words import Words

ANOTHER = "un autre partenaire"
NEAR = 80  # percent of a share from which a bar turns to "near"
SORTS = {"nom": "Partenaire", "appels": "Appels API", "part": "Part utilisée", "enregistrements": "Enregistrements",
         "volume": "Volume de données"}
POLICY_WORDS = {
    "equal": "est la même pour chaque partenaire",
    "weighted": "est proportionnelle à {basis}",
    "reserved": "vous est garantie en partie (selon {basis}) ; le reste du plafond forme une réserve commune, "
                "ouverte à tous",
    "max_min_fair": "suit ce que vous avez utilisé ces derniers mois : personne ne reçoit plus que ce dont il a "
                    "besoin, et le reste est partagé selon {basis}",
    "elastic": "suit ce que vous avez utilisé ces derniers mois ; ce que vous n'utilisez pas peut servir aux "
               "autres, sans que vous perdiez ce dont vous aurez besoin d'ici la fin du mois",
}
POOL_POLICY_WORDS = {
    "equal": "à parts égales",
    "weighted": "en proportion de {basis}",
    "reserved": "avec une part garantie selon {basis} et une réserve commune ouverte à tous",
    "max_min_fair": "selon ce que chacun a utilisé ces derniers mois (personne ne reçoit plus que son besoin)",
    "elastic": "selon ce que chacun a utilisé ces derniers mois ; ce qu'un partenaire n'utilise pas peut servir "
               "aux autres",
}
# the explanation says each metric in turn, each starting "Appels API, 2026-11 : ..."
_BY_METRIC = re.compile(r"(?<=\.)\s+(?=[A-ZÉ][^.:]{0,60}, \d{4}-\d{2}(?:-\d{2})? :)")
ALERT_WORDS = {"threshold": "seuil de {threshold} % atteint", "forecast": "épuisement prévu le {date}"}


@dataclass
class Gauge:
    """One metric against a limit: words, numbers and a bar (0-100)."""

    metric: str
    title: str
    used: int
    used_text: str
    limit_text: str
    percent_text: str
    width: int
    level: str  # ok | near | over | none
    sentence: str


@dataclass
class Day:
    day: date
    label: str
    used: int
    used_text: str
    total_text: str
    pace_total_text: str


@dataclass
class Chart:
    title: str
    description: str
    days: list[Day]
    pace: float | None  # calls a day at the share's steady pace
    bars: list[tuple[float, float, float, int]] = field(default_factory=list)  # x, y, height, day of month
    pace_y: float | None = None
    ticks: list[tuple[float, str]] = field(default_factory=list)  # y, label
    width: int = 720
    height: int = 272
    top: int = 16
    bottom: int = 228
    left: int = 112
    bar_width: float = 0


@dataclass
class DatasetLine:
    name: str
    value_text: str
    percent_text: str = ""
    width: int = 0
    level: str = "ok"


@dataclass
class Compliance:
    """The compliance of a partner's datasets (DESIGN §12), in the monthly report's words."""

    paragraphs: list[str]
    items: list[str]
    after: list[str]


@dataclass
class ReportLink:
    month: str
    label: str


@dataclass
class PartnerView:
    title: str
    pool_name: str
    name: str
    sig: str
    month: str
    month_label: str
    provisional: bool
    as_of: str
    headline: str
    pace: list[str]
    gauges: list[Gauge]
    pool_gauges: list[Gauge]
    chart: Chart
    top: list[DatasetLine]
    datasets: list[DatasetLine]
    dataset_cap: str
    alerts: list[str]
    denials: list[str]
    runs_out: list[str]
    explanation: str
    explanation_detail: list[str]
    reports: list[ReportLink]
    contact: list[str]
    compliance: Compliance | None
    previous_month: str | None
    next_month: str | None


@dataclass
class PoolRow:
    sig: str
    name: str
    calls: int
    calls_text: str
    allotment_text: str
    percent: float | None
    percent_text: str
    level: str
    records: int
    records_text: str
    raw: int
    raw_text: str
    compliance_text: str


@dataclass
class PoolView:
    title: str
    pool_name: str
    month: str
    month_label: str
    provisional: bool
    as_of: str
    headline: str
    gauges: list[Gauge]
    chart: Chart
    rows: list[PoolRow]
    sort: str
    unattributed: str
    explanation: str
    explanation_detail: list[str]
    contact: list[str]
    previous_month: str | None
    next_month: str | None
    compliance: bool = True  # the compliance column (DESIGN §12)
    sorts: dict[str, str] = field(default_factory=lambda: dict(SORTS))

    @property
    def columns(self) -> list[tuple[str | None, str, str]]:
        """(sort key or None, header, class): "large" columns are left out on a phone (the partner's page has them)."""
        found: list[tuple[str | None, str, str]] = [
            ("nom", "Partenaire", ""), ("appels", "Appels API", ""), (None, "Part d'appels", "large"),
            ("part", "Part utilisée", ""), ("enregistrements", "Enregistrements", "large"),
            ("volume", "Volume de données", "large")]
        return found + ([(None, "Métadonnées", "large")] if self.compliance else [])


def _level(percent: float | None) -> str:
    if percent is None:
        return "none"
    return "over" if percent >= 100 else "near" if percent >= NEAR else "ok"


def _width(percent: float | None) -> int:
    return 0 if percent is None else max(0, min(100, round(percent)))


def _pct(used: int, limit: int | None) -> float | None:
    return used / limit * 100 if limit else None


class Views:
    """Builds the views from a month's figures and the registry's names (no I/O of its own)."""

    def __init__(self, config: PoolConfig) -> None:
        self.config = config
        self.w = Words("fr")

    # shared pieces

    def _months(self, period: Period, today: date, first: date | None) -> tuple[str | None, str | None]:
        prev = period.previous()
        nxt = period.next()
        prev_label = prev.label if first is None or prev.end_day > first else None
        next_label = nxt.label if nxt.first_day <= today else None
        return prev_label, next_label

    def _as_of(self, figures: MonthFigures) -> str:
        return self.w.day(local_day(figures.as_of - timedelta(microseconds=1), figures.period.tz)) \
            if not figures.provisional else self.w.day(local_day(figures.as_of, figures.period.tz))

    def contact(self) -> list[str]:
        admins = list(self.config.reports.admins)
        if admins:
            return admins
        return []

    def chart(self, series: list[tuple[date, int]], allotment: int | None, figures: MonthFigures,
              whose: str = "la part") -> Chart:
        w = self.w
        days = len(series)
        pace = allotment / days if allotment and days else None
        month = w.month(figures.period.first_day)
        title = f"Appels API jour par jour, {month}"
        rows, total = [], 0
        for i, (d, n) in enumerate(series, start=1):
            total += n
            steady = w.number(round(pace * i)) if pace is not None else "–"
            rows.append(Day(d, w.day(d), n, w.number(n), w.number(total), steady))
        chart = Chart(title, "", rows, pace)
        top = max([n for _, n in series] + ([pace] if pace else []) + [1])
        scale = _nice(top)
        span = chart.bottom - chart.top
        step = (chart.width - chart.left - 8) / max(days, 1)
        for i, (d, n) in enumerate(series):
            h = span * n / scale
            chart.bars.append((round(chart.left + i * step + step * 0.15, 1), round(chart.bottom - h, 1),
                               round(h, 1), d.day))
        chart.bar_width = round(step * 0.7, 1)
        if pace is not None:
            chart.pace_y = round(chart.bottom - span * pace / scale, 1)
        chart.ticks = [(round(chart.bottom - span * k / 4, 1), w.number(round(scale * k / 4))) for k in range(5)]
        busiest = max(series, key=lambda item: (item[1], -item[0].toordinal()), default=None)
        parts = [f"{w.number(total)} appels API en {month}, sur {days} jours."]
        if busiest is not None and busiest[1] > 0:
            parts.append(f"Le jour le plus chargé est le {w.day(busiest[0])} ({w.number(busiest[1])} appels).")
        if pace is not None:
            parts.append(f"Le rythme régulier qui utiliserait tout{'' if whose == 'le plafond' else 'e'} {whose} "
                         "du mois est de "
                         f"{w.number(round(pace))} appels par jour (ligne pointillée).")
        parts.append("Les mêmes chiffres sont dans le tableau qui suit.")
        chart.description = " ".join(parts)
        return chart

    def _gauge(self, metric: str, used: int, limit: int | None, whose: str) -> Gauge:
        w = self.w
        pct = _pct(used, limit)
        title = w.metric_title(metric)
        if limit is None:
            sentence = f"{title} : {w.amount(metric, used)} utilisés ; pas de limite individuelle."
        else:
            sentence = (f"{title} : {w.amount(metric, used)} utilisés sur {whose} de {w.amount(metric, limit)}, "
                        f"soit {w.percent(pct)}.")
        return Gauge(metric, title, used, w.amount(metric, used), w.amount(metric, limit), w.percent(pct),
                     _width(pct), _level(pct), sentence)

    # a partner's page

    def compliance(self, figures: MonthFigures, sig: str) -> Compliance:
        """What is missing or late among ``sig``'s datasets, as the report says it (§8, §12)."""
        day = local_day(figures.as_of - timedelta(microseconds=1), figures.period.tz)
        section = compliance_words.partner_section(figures.compliance.get(sig, []), day, self.w)
        return Compliance(section.paragraphs, section.items, section.after)

    def _compliance_cell(self, checks: list[DatasetCheck]) -> str:
        found = summarise(checks)
        if not found.datasets:
            return "aucun jeu"
        text = f"{self.w.number(found.complete)} complet{'s' if found.complete > 1 else ''} sur " \
               f"{self.w.number(found.datasets)}"
        return text + (f", {self.w.number(found.late)} en retard" if found.late else "")

    def partner(self, figures: MonthFigures, sig: str, record: dict[str, Any], others: dict[str, str],
                today: date, alerts: list[dict[str, Any]], reports: list[str]) -> PartnerView:
        w, caps = self.w, self.config.caps
        name = record.get("name") or sig
        period = figures.period
        month = w.month(period.first_day)
        lines = {line.metric: line for line in L.lines(figures, sig, caps)}
        calls = lines["api_calls"]
        allotment = calls.allotment
        gauges = []
        for metric in METRICS:
            if metric == "dataset_records":
                continue
            line = lines[metric]
            if line.allotment is not None:
                gauges.append(self._gauge(metric, line.used, line.allotment, "votre part"))
            else:
                gauges.append(self._gauge(metric, line.used, None, ""))
        pool_gauges = [self._gauge(m, lines[m].pool_used, lines[m].cap, "un plafond commun")
                       for m in METRICS if m != "dataset_records"]
        series = L.daily_calls(figures, sig)
        headline, pace = self._headline(figures, sig, calls, series, today)
        chart = self.chart(series, allotment, figures)
        cap = caps.get("dataset_records")
        datasets = [DatasetLine(d, w.number(n), w.percent(_pct(n, cap)), _width(_pct(n, cap)), _level(_pct(n, cap)))
                    for d, n in figures.datasets.get(sig, [])]
        top = [DatasetLine(d, w.number(n)) for d, n in figures.top_calls.get(sig, [])]
        prev, nxt = self._months(period, today, date.fromisoformat(record["joined_at"]))
        summary, detail = self._explanation(figures, sig, others)
        return PartnerView(
            title=f"{name} – utilisation du portail en {month}", pool_name=self.config.pool.name, name=name, sig=sig,
            month=period.label, month_label=month, provisional=figures.provisional, as_of=self._as_of(figures),
            headline=headline, pace=pace, gauges=gauges, pool_gauges=pool_gauges, chart=chart, top=top,
            datasets=datasets, dataset_cap=w.number(cap), alerts=[self._alert(a) for a in alerts],
            denials=self._denials(figures.denials.get(sig, {})),
            runs_out=self._runs_out(allotment is not None), explanation=summary, explanation_detail=detail,
            reports=[ReportLink(m, w.month(date.fromisoformat(m + "-01"))) for m in reports],
            contact=self.contact(), compliance=self.compliance(figures, sig), previous_month=prev, next_month=nxt)

    def pool_lines(self, figures: MonthFigures) -> list[Gauge]:
        lines = L.lines(figures, L.POOL, self.config.caps)
        return [self._gauge(line.metric, line.used, line.allotment, "un plafond commun") for line in lines
                if line.metric != "dataset_records"]

    def _headline(self, figures: MonthFigures, sig: str, calls: L.Line, series: list[tuple[date, int]],
                  today: date) -> tuple[str, list[str]]:
        w = self.w
        limit = calls.allotment
        whose = "votre part" if limit is not None else "le plafond commun du portail"
        used = calls.used if limit is not None else calls.pool_used
        limit = limit if limit is not None else calls.cap
        left = max(0, limit - used)
        if figures.provisional:
            headline = (f"Il vous reste {w.number(left)} appels API ce mois-ci, sur {whose} de {w.number(limit)} "
                        f"({w.percent(_pct(used, limit))} utilisés).")
        else:
            headline = (f"En {w.month(figures.period.first_day)}, {w.number(used)} appels API ont été utilisés sur "
                        f"{whose} de {w.number(limit)} ({w.percent(_pct(used, limit))}).")
        pace: list[str] = []
        period = figures.period
        elapsed_days = (figures.as_of - period.start).total_seconds() / 86_400
        if calls.used and elapsed_days > 0:
            pace.append(f"Votre rythme : {w.number(round(calls.used / elapsed_days))} appels par jour en moyenne "
                        "depuis le début du mois.")
        if figures.provisional and calls.allotment:
            days_left = (period.end_day - today).days
            if calls.used < calls.allotment and days_left > 0:
                pace.append(f"Pour que votre part tienne jusqu'à la fin du mois, restez sous "
                            f"{w.number((calls.allotment - calls.used) // days_left)} appels par jour "
                            f"(il reste {days_left} jour{'s' if days_left > 1 else ''}, aujourd'hui compris).")
        if calls.allotment and calls.used >= calls.allotment:
            ran_out = L.exhaustion_day(figures, sig, calls.allotment)
            if ran_out is not None:
                pace.append(f"Votre part d'appels API a été épuisée le {w.day(ran_out)}.")
        elif calls.allotment and figures.provisional:
            run_out = rules.exhaustion(calls.used, calls.allotment, period, figures.as_of)
            if run_out is not None:
                pace.append(f"À ce rythme, votre part d'appels API serait épuisée le {w.day(run_out)}, "
                            "avant la fin du mois.")
            elif calls.used:
                pace.append("À ce rythme, votre part tiendra jusqu'à la fin du mois.")
        return headline, pace

    def _runs_out(self, has_share: bool) -> list[str]:
        policy = self.config.allocation
        enforced = self.config.enforcement.enforced("api_calls")
        reset = "1er du mois suivant, à minuit"
        if not enforced:
            return ["Le portail compte vos appels mais ne les refuse pas pour l'instant : rien ne s'arrête "
                    "quand la part est dépassée, mais la Région en est informée."]
        if not has_share or policy.policy == "none":
            return ["Il n'y a pas de part individuelle : seul le plafond commun du portail compte.",
                    f"Quand il est atteint, les appels API sont refusés pour tous les partenaires jusqu'au {reset}. "
                    "Les visiteurs de vos jeux de données voient alors un message « trop de requêtes »."]
        out = ["Quand votre part d'appels API est épuisée, les appels à vos jeux de données sont refusés "
               f"jusqu'au {reset}. Les visiteurs voient alors un message « trop de requêtes »."]
        if policy.borrowing or policy.policy in ("elastic", "reserved"):
            out.append("Tant que le portail a de la place, vous pouvez encore utiliser ce que les autres "
                       "partenaires n'utilisent pas : les refus n'arrivent que si le portail entier est plein.")
        out.append("Vous recevez un courriel d'alerte avant d'en arriver là (à 80 %, 90 % et 100 % de la part, "
                   "et quand le rythme du mois la ferait épuiser avant la fin).")
        return out

    def _alert(self, alert: dict[str, Any]) -> str:
        w = self.w
        when = w.day(date.fromisoformat(alert["at"][:10]))
        what = ALERT_WORDS[alert["type"]].format(
            threshold=alert.get("threshold"),
            date=w.day(date.fromisoformat(alert["exhaustion_date"])) if alert.get("exhaustion_date") else "")
        return f"Le {when} : {w.metric(alert['metric'])}, {what} ({w.amount(alert['metric'], alert['used'])} " \
               f"sur {w.amount(alert['metric'], alert['limit'])})."

    def _denials(self, found: dict[tuple[str, str], int]) -> list[str]:
        why = {"signatory": "votre part était épuisée", "pool": "le plafond du portail était atteint",
               "dataset": "le plafond du jeu de données était atteint"}
        return [f"{self.w.metric_title(m)} : {self.w.number(n)} refus ({why.get(s, s)})."
                for (m, s), n in sorted(found.items()) if n]

    def _explanation(self, figures: MonthFigures, sig: str, others: dict[str, str]) -> tuple[str, list[str]]:
        """(one plain sentence about API calls, the detailed explanation by metric, anonymised)."""
        found = figures.allocations.get(figures.period.label)
        w = self.w
        cap = w.number(self.config.caps.get("api_calls"))
        if found is None or found.policy == "none":
            return (f"Il n'y a pas de part individuelle ce mois-ci : les {cap} appels API du mois sont un plafond "
                    "commun à tous les partenaires.", [])
        mine = found.allotments.get(sig, {}).get("api_calls")
        how = POLICY_WORDS.get(found.policy, "").format(
            basis="votre population" if self.config.allocation.weight == "population" else "votre poids déclaré")
        summary = (f"Le portail dispose de {cap} appels API par mois pour tous les partenaires. Votre part, "
                   f"{w.number(mine) if mine is not None else 'aucune'}, {how}.")
        text = anonymised(found.explanation.get("fr") or found.explanation.get("en", ""), sig, others)
        return summary, [p for p in _BY_METRIC.split(text) if p.strip()]

    # the pool's page

    def pool(self, figures: MonthFigures, names: dict[str, str], today: date, sort: str) -> PoolView:
        w, caps = self.w, self.config.caps
        period = figures.period
        month = w.month(period.first_day)
        gauges = self.pool_lines(figures)
        series = L.daily_calls(figures, L.POOL)
        chart = self.chart(series, caps.get("api_calls"), figures, "le plafond")
        rows = []
        for sig, name in names.items():
            used = figures.used("api_calls", sig)
            allotment = L.month_allotment(figures, sig, "api_calls", caps)
            pct = _pct(used, allotment)
            records, raw = figures.used("records", sig), figures.used("raw_bytes", sig)
            rows.append(PoolRow(sig, name, used, w.number(used), w.amount("api_calls", allotment), pct,
                                w.percent(pct), _level(pct), records, w.number(records), raw,
                                w.amount("raw_bytes", raw), self._compliance_cell(figures.compliance.get(sig, []))))
        rows.sort(key=_SORT_KEYS.get(sort, _SORT_KEYS["appels"]))
        calls = gauges[0]
        headline = (f"Les partenaires ont utilisé {calls.used_text} appels API sur un plafond de {calls.limit_text} "
                    f"({calls.percent_text}).")
        un = figures.month_total("api_calls", "unattributed")
        prev, nxt = self._months(period, today, None)
        found = figures.allocations.get(period.label)
        if found is not None and found.policy != "none":
            basis = "leur population" if self.config.allocation.weight == "population" else "leur poids déclaré"
            summary = (f"Chaque plafond est partagé entre les {len(names)} partenaires actifs "
                       f"{POOL_POLICY_WORDS.get(found.policy, '').format(basis=basis)}.")
            detail = [p for p in _BY_METRIC.split(found.explanation.get("fr") or found.explanation.get("en", ""))
                      if p.strip()]
        else:
            summary, detail = ("Aucune politique de répartition n'est active : seul le plafond commun du portail "
                               "s'applique."), []
        return PoolView(
            title=f"{self.config.pool.name} – utilisation en {month}", pool_name=self.config.pool.name,
            month=period.label, month_label=month, provisional=figures.provisional, as_of=self._as_of(figures),
            headline=headline, gauges=gauges, chart=chart, rows=rows, sort=sort if sort in _SORT_KEYS else "appels",
            unattributed=f"Trafic non rattaché à un partenaire : {w.number(un)} appels API.",
            explanation=summary, explanation_detail=detail, compliance=True,
            contact=self.contact(), previous_month=prev, next_month=nxt)


_SORT_KEYS: dict[str, Callable[[PoolRow], Any]] = {
    "nom": lambda r: (r.name.casefold(), r.sig),
    "appels": lambda r: (-r.calls, r.name.casefold()),
    "part": lambda r: (-(r.percent or 0), r.name.casefold()),
    "enregistrements": lambda r: (-r.records, r.name.casefold()),
    "volume": lambda r: (-r.raw, r.name.casefold()),
}


def anonymised(text: str, sig: str, others: dict[str, str]) -> str:
    """``text`` with every other partner's id and name replaced by "un autre partenaire"."""
    words = {word for other, name in others.items() if other != sig for word in (other, name) if word}
    if not words:
        return text
    pattern = re.compile("|".join(re.escape(word) for word in sorted(words, key=len, reverse=True)))
    return pattern.sub(ANOTHER, text)


def _nice(top: float) -> float:
    """A round number at or above ``top`` for the chart's scale (1, 2, 2.5 or 5 times a power of ten)."""
    magnitude = 10 ** max(0, len(str(int(top))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= top:
            return step * magnitude
    return 10 * magnitude


def report_months(joined: date, today: date, keep: int = 12) -> list[str]:
    """The finished months with a report for a partner that joined on ``joined``: the last ``keep``."""
    months: list[str] = []
    d = date(today.year, today.month, 1)
    for _ in range(keep):
        d = (d - timedelta(days=1)).replace(day=1)
        if d < date(joined.year, joined.month, 1):
            break
        months.append(d.strftime("%Y-%m"))
    return months

