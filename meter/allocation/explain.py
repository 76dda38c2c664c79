"""How the numbers came out, in plain words (English or French), for the API and the reports.

Each sentence is one small function of the inputs; ``explanation`` joins those that apply. The
wording lives in one table per language so the two cannot drift apart in what they say.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from meter.allocation.base import UNATTRIBUTED, Allotment, Member, Params
from meter.core import quotas

Lang = quotas.Lang
EXAMPLES = 3
STOCK_METRICS = ("records", "raw_bytes", "content_bytes")  # elastic lends flows only

METRIC_LABELS: dict[str, dict[str, str]] = {  # the metric table's short labels, by language
    lang: {m.name: m.label(lang) for m in quotas.METRICS} for lang in ("en", "fr")}

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "head": "{metric}, {period}: the pool's cap is {cap}.",
        "none": "No allocation policy is on: only the pool's cap is enforced; usage is still reported "
                "per signatory.",
        "per_dataset": "This cap applies to each dataset and is never shared out.",
        "nobody": "No signatory is active in this period, so nothing is allotted to signatories.",
        "set_aside": "{amount} ({pct}) is set aside for traffic that names no signatory; the other {rest} "
                     "go to {n} active signatories.",
        "shared": "The cap goes to {n} active signatories.",
        "equal": "Each gets an equal part.",
        "weighted": "Each gets a part in proportion to its {basis}.",
        "reserved": "Each is guaranteed {fraction} of its part in proportion to its {basis} ({guaranteed} in "
                    "all); the other {burst} form a common burst reserve that any signatory may draw on once "
                    "its guarantee is used, first come, first served.",
        "maxmin": "Parts follow forecast demand (max-min fairness): nobody gets more than its forecast, and "
                  "what some do not need is shared among the others in proportion to their {basis}.",
        "elastic": "Each part is a guarantee, and what a signatory has not used may be borrowed by the others, "
                   "except what it keeps protected: what a steady user of its guarantee would still need for the "
                   "rest of the period (all of it at the start, nothing at the end). A signatory may always use "
                   "its own guarantee; beyond it, it may borrow what the others do not keep protected, within "
                   "the pool's cap.",
        "elastic_stock": "For this stock the guarantee is a hard limit: a stock has no period end to pace against.",
        "met": "{count} get their whole forecast.", "met_one": "{count} gets its whole forecast.",
        "short": "Below their forecast: {examples}.",
        "open": "{count} have no forecast yet and get the common level by weight.",
        "open_one": "{count} has no forecast yet and gets the common level by weight.",
        "short_item": "{id} ({share} of {demand})",
        "idle": "{idle} stay unallotted because the forecast demand is below the cap.",
        "pro_rata": "{count} were active for part of the period and count pro rata, e.g. {examples}.",
        "pro_rata_one": "{count} was active for part of the period and counts pro rata: {examples}.",
        "rounding": "Parts are whole numbers (largest remainder; ties go to the smaller id).",
        "population": "population", "weight": "declared weight",
        "signatories": "{n} signatories", "signatory": "1 signatory",
    },
    "fr": {
        "head": "{metric}, {period} : le plafond du portail est de {cap}.",
        "none": "Aucune politique de répartition n'est active : seul le plafond du portail s'applique ; "
                "l'usage reste suivi par signataire.",
        "per_dataset": "Ce plafond s'applique à chaque jeu de données et n'est jamais réparti.",
        "nobody": "Aucun signataire n'est actif sur la période : rien n'est attribué aux signataires.",
        "set_aside": "{amount} ({pct}) sont réservés au trafic qui ne désigne aucun signataire ; les {rest} "
                     "autres vont à {n} signataires actifs.",
        "shared": "Le plafond va à {n} signataires actifs.",
        "equal": "Chacun reçoit une part égale.",
        "weighted": "Chacun reçoit une part proportionnelle à sa {basis}.",
        "reserved": "Chacun a la garantie de {fraction} de sa part proportionnelle à sa {basis} ({guaranteed} "
                    "au total) ; les {burst} autres forment une réserve commune où tout signataire peut puiser "
                    "une fois sa garantie consommée, au premier arrivé.",
        "maxmin": "Les parts suivent la demande prévue (équité max-min) : nul ne reçoit plus que sa prévision, "
                  "et ce dont certains n'ont pas besoin est partagé entre les autres au prorata de leur {basis}.",
        "elastic": "Chaque part est une garantie, et ce qu'un signataire n'a pas consommé peut être emprunté par les "
                   "autres, sauf ce qui lui reste protégé : ce dont un usager régulier de sa garantie aurait encore "
                   "besoin d'ici la fin de la période (tout au début, rien à la fin). Un signataire peut toujours "
                   "consommer sa propre garantie ; au-delà, il peut emprunter ce que les autres ne gardent pas "
                   "protégé, dans la limite du plafond du portail.",
        "elastic_stock": "Pour ce stock, la garantie est une limite ferme : un stock n'a pas de fin de période à "
                         "laquelle se mesurer.",
        "met": "{count} reçoivent toute leur prévision.", "met_one": "{count} reçoit toute sa prévision.",
        "short": "En dessous de leur prévision : {examples}.",
        "open": "{count} n'ont pas encore de prévision et reçoivent le niveau commun, au prorata de leur poids.",
        "open_one": "{count} n'a pas encore de prévision et reçoit le niveau commun, au prorata de son poids.",
        "short_item": "{id} ({share} sur {demand})",
        "idle": "{idle} restent non attribués, car la demande prévue est inférieure au plafond.",
        "pro_rata": "{count} n'ont été actifs qu'une partie de la période et comptent au prorata, par exemple "
                    "{examples}.",
        "pro_rata_one": "{count} n'a été actif qu'une partie de la période et compte au prorata : {examples}.",
        "rounding": "Les parts sont des nombres entiers (plus forts restes ; à égalité, le plus petit "
                    "identifiant l'emporte).",
        "population": "population", "weight": "pondération déclarée",
        "signatories": "{n} signataires", "signatory": "1 signataire",
    },
}


def explanation(policy_name: str, metric: str, period_label: str, cap: int, members: Sequence[Member],
                allotment: Allotment, params: Params, lang: Lang = "en",
                names: Mapping[str, str] | None = None) -> str:
    """The allotment of one metric for one period, in words; ``names`` turns ids into names."""
    say = _Say(lang, names or {})
    head = say("head", metric=say.metric(metric), period=period_label, cap=say.number(cap))
    if quotas.metric(metric).per_dataset:
        return f"{head} {say('per_dataset')}"
    if policy_name == "none":
        return f"{head} {say('none')}"
    if not members:
        return f"{head} {say('nobody')}"
    body = [_who(say, cap, members, allotment), *_how(say, policy_name, cap, members, allotment, params, metric),
            *_pro_rata(say, members), say("rounding")]
    return " ".join([head, *body])


class _Say:
    """Wording and number formats of one language."""

    def __init__(self, lang: Lang, names: Mapping[str, str]) -> None:
        self.lang = lang
        self.text = TEXT[lang]
        self.names = names

    def __call__(self, key: str, **values: object) -> str:
        return self.text[key].format(**values)

    def metric(self, metric: str) -> str:
        label = METRIC_LABELS[self.lang].get(metric, metric)
        return label[0].upper() + label[1:]

    def number(self, n: int) -> str:
        return f"{n:,}".replace(",", "\u202f") if self.lang == "fr" else f"{n:,}"

    def percent(self, fraction: float) -> str:
        text = f"{fraction * 100:.3g}"
        return f"{text.replace('.', ',')}\u00a0%" if self.lang == "fr" else f"{text}%"

    def plural(self, key: str, n: int, **values: object) -> str:
        """The sentence ``key`` about ``n`` signatories, in the singular when there is one."""
        return self(key + "_one" if n == 1 else key, count=self.count(n), **values)

    def count(self, n: int) -> str:
        return self("signatory") if n == 1 else self("signatories", n=self.number(n))

    def name(self, sid: str) -> str:
        return self.names.get(sid, sid)


def _who(say: _Say, cap: int, members: Sequence[Member], allotment: Allotment) -> str:
    set_aside = allotment.shares.get(UNATTRIBUTED, 0)
    n = say.number(len(members))
    if not set_aside:
        return say("shared", n=n)
    return say("set_aside", amount=say.number(set_aside), pct=say.percent(set_aside / cap),
               rest=say.number(cap - set_aside), n=n)


def _how(say: _Say, policy: str, cap: int, members: Sequence[Member], allotment: Allotment,
         params: Params, metric: str = "") -> list[str]:
    basis = say(params.weight_by if params.weight_by in ("population", "weight") else "weight")
    if policy == "equal":
        return [say("equal")]
    if policy == "weighted":
        return [say("weighted", basis=basis)]
    if policy == "reserved":
        guaranteed = sum(v for k, v in allotment.shares.items() if k != UNATTRIBUTED)
        return [say("reserved", fraction=say.percent(params.reserved_fraction), basis=basis,
                    guaranteed=say.number(guaranteed), burst=say.number(allotment.burst))]
    if policy == "max_min_fair":
        return _max_min(say, cap, members, allotment, basis)
    if policy == "elastic":
        lending = "elastic_stock" if metric in STOCK_METRICS else "elastic"
        return [*_max_min(say, cap, members, allotment, basis), say(lending)]
    return []


def _max_min(say: _Say, cap: int, members: Sequence[Member], allotment: Allotment, basis: str) -> list[str]:
    shares = allotment.shares
    met = [m for m in members if m.demand is not None and shares.get(m.id) == m.demand]
    short = sorted((m for m in members if m.demand is not None and shares.get(m.id, 0) < m.demand),
                   key=lambda m: (shares.get(m.id, 0) - (m.demand or 0), m.id))
    found = [say("maxmin", basis=basis), say.plural("met", len(met))]
    if short:
        items = [say("short_item", id=say.name(m.id), share=say.number(shares.get(m.id, 0)),
                     demand=say.number(m.demand or 0)) for m in short[:EXAMPLES]]
        found.append(say("short", examples=", ".join(items)))
    if unbounded := sum(1 for m in members if m.demand is None):
        found.append(say.plural("open", unbounded))
    if idle := cap - allotment.total:  # demand below the cap: max-min leaves the difference idle
        found.append(say("idle", idle=say.number(idle)))
    return found


def _pro_rata(say: _Say, members: Sequence[Member]) -> list[str]:
    partial = [m for m in members if m.active_fraction < 1]
    if not partial:
        return []
    examples = ", ".join(f"{say.name(m.id)} ({say.percent(m.active_fraction)})" for m in partial[:EXAMPLES])
    return [say.plural("pro_rata", len(partial), examples=examples)]


ANOTHER = {"en": "a partner", "fr": "un autre partenaire"}


def anonymised(text: str, others: Iterable[str], own: Iterable[str], lang: str) -> str:
    """``text`` with each of ``others`` (other signatories' ids and names) replaced by "a partner":
    what a signatory reads of an allocation names no other signatory (DESIGN §4). ``own`` (its id
    and name) stays, even where another's name is part of it."""
    keep = {term for term in own if term}
    terms = sorted({t for t in others if t and t != UNATTRIBUTED} | keep, key=len, reverse=True)
    if not terms or not set(terms) - keep:
        return text
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, terms)) + r")(?![\w-])")
    another = ANOTHER.get(lang, ANOTHER["en"])
    return pattern.sub(lambda m: m[0] if m[0] in keep else another, text)
