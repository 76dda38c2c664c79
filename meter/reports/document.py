"""One report as a document of plain sentences and small tables, in the pool's language.

Text, HTML and PDF are drawn from this one document, so they say the same things with the same
numbers. Every figure comes with a short sentence that says what it means.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from meter.allocation.explain import anonymised
from meter.config.settings import CapsSection
from meter.registry.ids import UNATTRIBUTED
from meter.reports import compliance
from meter.reports import lines as L
from meter.reports.blocks import Section, Table
from meter.reports.figures import MonthFigures
from meter.reports.words import Words

TEXT: dict[str, dict[str, Any]] = {
    "fr": {
        "title": "Rapport mensuel – {name} – {month}",
        "provisional": "Rapport provisoire : le mois n'est pas terminé, les chiffres sont arrêtés au {day}.",
        "intro": "Ce rapport présente l'utilisation du {pool} par {name} en {month}, et la part du "
                 "portail qui lui était attribuée.",
        "intro_pool": "Ce rapport présente l'utilisation du {pool} par l'ensemble des partenaires en {month}.",
        "usage": "Votre utilisation", "usage_pool": "Utilisation du portail",
        "cols": ["Mesure", "Utilisé", "Votre part", "Part utilisée", "Tous partenaires", "Plafond du portail",
                 "Mois précédent"],
        "cols_pool": ["Mesure", "Utilisé", "Plafond du portail", "Part utilisée", "Mois précédent"],
        "line": "{metric} : {used} utilisés sur une part de {allotment}, soit {percent}. L'ensemble des "
                "partenaires en a utilisé {pool_used}, pour un plafond de {cap}. Le mois précédent : {previous}.",
        "line_none": "{metric} : {used} utilisés ; aucune part ne vous était attribuée. L'ensemble des "
                     "partenaires en a utilisé {pool_used}, pour un plafond de {cap}. Le mois précédent : {previous}.",
        "line_pool": "{metric} : {used} utilisés sur un plafond de {cap}, soit {percent}. Le mois précédent : "
                     "{previous}.",
        "stock_note": "Les enregistrements et les volumes stockés sont comptés au dernier jour du mois.",
        "busiest": "Les mises à jour sont plafonnées par jour. La journée la plus chargée a été le {day} : "
                   "{used}, pour une part de {allotment} ce jour-là.",
        "busiest_none": "Les mises à jour sont plafonnées par jour. La journée la plus chargée a été le {day} : "
                        "{used} (aucune part journalière n'était enregistrée ce jour-là).",
        "chart": "Appels API jour par jour",
        "chart_text": "Chaque barre compte les appels API d'une journée. La ligne montre le rythme régulier "
                      "qui aurait utilisé toute la part du mois, soit {pace} par jour.",
        "chart_text_none": "Chaque barre compte les appels API d'une journée.",
        "ran_out": "À ce rythme, la part d'appels API a été épuisée le {day}.",
        "would_run_out": "Au rythme actuel, la part d'appels API serait épuisée le {day}.",
        "no_run_out": "Au rythme du mois, la part d'appels API n'a pas été épuisée.",
        "datasets": "Jeux de données les plus consultés", "datasets_records": "Jeux de données les plus volumineux",
        "cols_calls": ["Jeu de données", "Appels API"], "cols_records": ["Jeu de données", "Enregistrements"],
        "no_datasets": "Aucun appel API n'a désigné de jeu de données ce mois-ci.",
        "no_records": "Aucun jeu de données n'est enregistré.",
        "denials": "Demandes refusées",
        "denials_none": "Aucune demande n'a été refusée ce mois-ci.",
        "denials_some": "{n} demandes ont été refusées ce mois-ci, car la part ou le plafond était atteint.",
        "denial_item": "{metric} : {n} refus ({why})",
        "scope": {"signatory": "part du partenaire épuisée", "pool": "plafond du portail atteint",
                  "dataset": "plafond du jeu de données atteint"},
        "allocation": "Comment la part a été calculée",
        "allocation_none": "Aucune répartition n'était enregistrée pour ce mois (le service ne tournait pas "
                           "encore, ou aucune politique de répartition n'est active) : seules les limites "
                           "communes du portail s'appliquaient.",
        "next": "Le mois prochain",
        "next_text": "Votre part d'appels API prévue pour {month} : {amount}.",
        "next_projected": "Il s'agit d'une prévision, calculée avec les partenaires inscrits aujourd'hui.",
        "next_none": "Aucune part n'est prévue pour {month}.",
        "ranking": "Classement des partenaires (appels API)",
        "cols_rank": ["Rang", "Partenaire", "Appels API", "Part", "Part utilisée"],
        "unattributed": "Trafic non attribué",
        "unattributed_text": "Trafic qui n'a pu être rattaché à aucun partenaire : {calls} appels API.",
        "near": "Partenaires proches de leur part",
        "near_none": "Aucun partenaire n'a atteint {n} d'une de ses parts.",
        "near_item": "{name} – {metric} : {percent} de sa part",
        "footer": "Ce rapport est produit automatiquement par le service de suivi des quotas du {pool}.",
        "page": "Votre page en ligne",
        "page_text": "Pour suivre votre utilisation au jour le jour, ouvrez votre page (lien personnel, valable "
                     "jusqu'au {day}) :",
        "page_pool": "La page du portail",
        "page_pool_text": "Pour suivre l'utilisation de tous les partenaires au jour le jour, ouvrez la page du "
                          "portail (lien personnel, valable jusqu'au {day}) :",
    },
    "en": {
        "title": "Monthly report – {name} – {month}",
        "provisional": "Provisional report: the month is not over; figures as of {day}.",
        "intro": "This report shows how {name} used the {pool} in {month}, and the share of the portal it "
                 "was given.",
        "intro_pool": "This report shows how all partners used the {pool} in {month}.",
        "usage": "Your usage", "usage_pool": "Usage of the portal",
        "cols": ["Measure", "Used", "Your share", "Share used", "All partners", "Portal limit", "Last month"],
        "cols_pool": ["Measure", "Used", "Portal limit", "Share used", "Last month"],
        "line": "{metric}: {used} used out of a share of {allotment}, that is {percent}. All partners used "
                "{pool_used}, against a limit of {cap}. Last month: {previous}.",
        "line_none": "{metric}: {used} used; no share was given to you. All partners used {pool_used}, against "
                     "a limit of {cap}. Last month: {previous}.",
        "line_pool": "{metric}: {used} used out of a limit of {cap}, that is {percent}. Last month: {previous}.",
        "stock_note": "Records and stored volumes are counted on the last day of the month.",
        "busiest": "Updates are limited per day. The busiest day was {day}: {used}, for a share of {allotment} "
                   "that day.",
        "busiest_none": "Updates are limited per day. The busiest day was {day}: {used} (no daily share was "
                        "stored for that day).",
        "chart": "API calls day by day",
        "chart_text": "Each bar counts one day's API calls. The line shows the steady pace that would have used "
                      "the whole month's share: {pace} a day.",
        "chart_text_none": "Each bar counts one day's API calls.",
        "ran_out": "At this pace, the share of API calls ran out on {day}.",
        "would_run_out": "At the current pace, the share of API calls would run out on {day}.",
        "no_run_out": "At the month's pace, the share of API calls did not run out.",
        "datasets": "Most used datasets", "datasets_records": "Largest datasets",
        "cols_calls": ["Dataset", "API calls"], "cols_records": ["Dataset", "Records"],
        "no_datasets": "No API call named a dataset this month.",
        "no_records": "No dataset is recorded.",
        "denials": "Refused requests",
        "denials_none": "No request was refused this month.",
        "denials_some": "{n} requests were refused this month, because a share or the limit was reached.",
        "denial_item": "{metric}: {n} refused ({why})",
        "scope": {"signatory": "partner's share used up", "pool": "portal limit reached",
                  "dataset": "dataset limit reached"},
        "allocation": "How the share was computed",
        "allocation_none": "No allocation was stored for this month (the service was not running yet, or no "
                           "sharing policy is on): only the portal's common limits applied.",
        "next": "Next month",
        "next_text": "Your expected share of API calls for {month}: {amount}.",
        "next_projected": "This is a forecast, computed with the partners registered today.",
        "next_none": "No share is planned for {month}.",
        "ranking": "Partners ranked by API calls",
        "cols_rank": ["Rank", "Partner", "API calls", "Share", "Share used"],
        "unattributed": "Traffic not attributed",
        "unattributed_text": "Traffic that could not be linked to any partner: {calls} API calls.",
        "near": "Partners near their share",
        "near_none": "No partner reached {n} of one of its shares.",
        "near_item": "{name} – {metric}: {percent} of its share",
        "footer": "This report is produced automatically by the quota service of the {pool}.",
        "page": "Your page online",
        "page_text": "To follow your usage day by day, open your page (a personal link, valid until {day}):",
        "page_pool": "The portal's page",
        "page_pool_text": "To follow every partner's usage day by day, open the portal's page (a personal link, "
                          "valid until {day}):",
    },
}


@dataclass
class Document:
    lang: str
    title: str
    notes: list[str]
    sections: list[Section]
    footer: str


@dataclass
class Context:
    """Who the report is for and what surrounds it."""

    sig: str
    name: str
    pool_name: str
    names: dict[str, str]  # every partner active in the month: id -> name
    caps: CapsSection
    lang: str
    page_url: str | None = None  # a fresh link to its page (DESIGN §8, §11): the mailed report carries one
    page_until: date | None = None


def build(figures: MonthFigures, ctx: Context) -> Document:
    w, t = Words(ctx.lang), TEXT[ctx.lang if ctx.lang in TEXT else "fr"]
    month = w.month(figures.period.first_day)
    notes = [t["provisional"].format(day=w.day(figures.as_of.astimezone(figures.period.tz).date()))] \
        if figures.provisional else []
    intro = (t["intro_pool"] if ctx.sig == L.POOL else t["intro"]).format(pool=ctx.pool_name, name=ctx.name,
                                                                           month=month)
    sections = [_usage(figures, ctx, w, t, intro), _chart(figures, ctx, w, t)]
    if ctx.sig == L.POOL:
        sections += [_ranking(figures, ctx, w, t), _unattributed(figures, w, t), _near(figures, ctx, w, t)]
    else:
        sections += _datasets(figures, ctx.sig, w, t)
    sections += [_denials(figures, ctx.sig, w, t), _allocation(figures, ctx, t)]
    if ctx.sig != L.POOL:
        sections.append(_next(figures, ctx.sig, w, t))
    sections.append(_compliance(figures, ctx, w))
    if ctx.page_url is not None and ctx.page_until is not None:
        pool = ctx.sig == L.POOL
        sections.append(Section(t["page_pool" if pool else "page"],
                                [t["page_pool_text" if pool else "page_text"].format(day=w.day(ctx.page_until))],
                                items=[ctx.page_url]))
    return Document(ctx.lang, t["title"].format(name=ctx.name, month=month), notes, sections,
                    t["footer"].format(pool=ctx.pool_name))


def _compliance(figures: MonthFigures, ctx: Context, w: Words) -> Section:
    """Metadata and updates (DESIGN §12), as they stand at the month's end (or now)."""

    day = (figures.as_of - timedelta(microseconds=1)).astimezone(figures.period.tz).date()
    if ctx.sig == L.POOL:
        return compliance.pool_section(figures.compliance, ctx.names, day, w)
    return compliance.partner_section(figures.compliance.get(ctx.sig, []), day, w)


def _usage(figures: MonthFigures, ctx: Context, w: Words, t: dict, intro: str) -> Section:
    pool = ctx.sig == L.POOL
    rows, sentences = [], []
    for line in L.lines(figures, ctx.sig, ctx.caps):
        f = {"metric": w.metric_title(line.metric), "used": w.amount(line.metric, line.used),
             "allotment": w.amount(line.metric, line.allotment), "percent": w.percent(line.percent),
             "pool_used": w.amount(line.metric, line.pool_used), "cap": w.amount(line.metric, line.cap),
             "previous": w.amount(line.metric, line.previous)}
        if pool:
            rows.append([f["metric"], f["used"], f["cap"], f["percent"], f["previous"]])
            sentences.append(t["line_pool"].format(**f))
        else:
            rows.append([f["metric"], f["used"], f["allotment"], f["percent"], f["pool_used"], f["cap"], f["previous"]])
            sentences.append(t["line" if line.allotment is not None else "line_none"].format(**f))
    busiest = L.busiest_update_day(figures, ctx.sig, ctx.caps)
    if busiest is not None:
        sentences.append(t["busiest" if busiest.allotment is not None else "busiest_none"].format(
            day=w.day(busiest.day), used=w.bytes(busiest.used),
                                             allotment=w.amount("update_bytes", busiest.allotment)))
    sentences.append(t["stock_note"])
    return Section(t["usage_pool" if pool else "usage"], [intro], Table(t["cols_pool" if pool else "cols"], rows),
                   after=sentences)


def _chart(figures: MonthFigures, ctx: Context, w: Words, t: dict) -> Section:
    allotment = L.month_allotment(figures, ctx.sig, "api_calls", ctx.caps)
    days = len(L.daily_calls(figures, ctx.sig))
    text = [t["chart_text"].format(pace=w.number(round(allotment / days))) if allotment else t["chart_text_none"]]
    run_out = L.exhaustion_day(figures, ctx.sig, allotment)
    if run_out is not None:
        did = sum(n for _, n in L.daily_calls(figures, ctx.sig)) >= (allotment or 0)
        text.append(t["ran_out" if did else "would_run_out"].format(day=w.day(run_out)))
    elif allotment:
        text.append(t["no_run_out"])
    return Section(t["chart"], text, chart=True)


def _datasets(figures: MonthFigures, sig: str, w: Words, t: dict) -> list[Section]:
    calls = figures.top_calls.get(sig, [])
    records = figures.top_records.get(sig, [])
    return [
        Section(t["datasets"], [] if calls else [t["no_datasets"]],
                Table(t["cols_calls"], [[d, w.number(n)] for d, n in calls]) if calls else None),
        Section(t["datasets_records"], [] if records else [t["no_records"]],
                Table(t["cols_records"], [[d, w.number(n)] for d, n in records]) if records else None),
    ]


def _denials(figures: MonthFigures, sig: str, w: Words, t: dict) -> Section:
    if sig == L.POOL:
        found: dict[tuple[str, str], int] = {}
        for per in figures.denials.values():
            for k, n in per.items():
                found[k] = found.get(k, 0) + n
    else:
        found = figures.denials.get(sig, {})
    total = sum(found.values())
    if not total:
        return Section(t["denials"], [t["denials_none"]])
    items = [t["denial_item"].format(metric=w.metric_title(m), n=w.number(n), why=t["scope"].get(s, s))
             for (m, s), n in sorted(found.items())]
    return Section(t["denials"], [t["denials_some"].format(n=w.number(total))], items=items)


def _allocation(figures: MonthFigures, ctx: Context, t: dict) -> Section:
    found = figures.allocations.get(figures.period.label)
    if found is None or found.policy == "none":
        return Section(t["allocation"], [t["allocation_none"]])
    lang = ctx.lang if found.explanation.get(ctx.lang) else "en"
    text = found.explanation[lang]
    if ctx.sig != L.POOL:  # a partner's report names no other partner (DESIGN §4)
        others = [*found.allotments, *(term for sid, name in ctx.names.items() if sid != ctx.sig
                                       for term in (sid, name))]
        text = anonymised(text, others, (ctx.sig, ctx.name), lang)
    return Section(t["allocation"], [text])


def _next(figures: MonthFigures, sig: str, w: Words, t: dict) -> Section:
    doc = figures.next_allocation or {}
    month = w.month(figures.period.next().first_day)
    amount = doc.get("signatories", {}).get(sig, {}).get("api_calls") if doc.get("policy", "none") != "none" else None
    if amount is None:
        return Section(t["next"], [t["next_none"].format(month=month)])
    text = [t["next_text"].format(month=month, amount=w.number(amount))]
    if doc.get("projected"):
        text.append(t["next_projected"])
    return Section(t["next"], text)


def _ranking(figures: MonthFigures, ctx: Context, w: Words, t: dict) -> Section:
    rows = [[str(i), ctx.names[sig], w.number(line.used), w.amount("api_calls", line.allotment),
             w.percent(line.percent)] for i, (sig, line) in enumerate(L.ranking(figures, ctx.names, ctx.caps), start=1)]
    return Section(t["ranking"], [], Table(t["cols_rank"], rows, left=2))


def _unattributed(figures: MonthFigures, w: Words, t: dict) -> Section:
    calls = figures.month_total("api_calls", UNATTRIBUTED)
    return Section(t["unattributed"], [t["unattributed_text"].format(calls=w.number(calls))])


def _near(figures: MonthFigures, ctx: Context, w: Words, t: dict) -> Section:
    near = L.near_shares(figures, ctx.names, ctx.caps)
    if not near:
        return Section(t["near"], [t["near_none"].format(n=w.percent(L.NEAR_PERCENT))])
    return Section(t["near"], items=[t["near_item"].format(name=ctx.names[sig], metric=w.metric(line.metric),
                                                           percent=w.percent(line.percent)) for sig, line in near])
