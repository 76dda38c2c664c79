"""The report's section "Métadonnées et mises à jour" (DESIGN §8 and §12).

A partner's report lists each dataset that is incomplete or late, with what to fill in (the
field names as the portal's editor shows them) or the date the update was due, then says how to
fix it; one sentence when all is in order. The pool's report has one line per partner. Written
for the person who publishes the data at a town hall: what is wrong, where, and what to do.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from meter.compliance.checks import DatasetCheck, summarise
from meter.compliance.fields import FREQUENCIES, LABELS_EN, LABELS_FR, frequency
from meter.registry.ids import UNATTRIBUTED
from meter.reports.blocks import Section, Table
from meter.reports.words import Words

MAX_LISTED = 30  # datasets listed in a partner's report; the rest are counted
DCAT_FIELDS = frozenset({"created", "issued", "frequency", "coverage", "granularity"})  # the DCAT block's

TEXT: dict[str, dict[str, Any]] = {
    "fr": {
        "heading": "Métadonnées et mises à jour",
        "none": "Aucun jeu de données à votre nom n'a été trouvé dans le catalogue du portail : il n'y a rien à "
                "vérifier.",
        "all_one": "Votre jeu de données porte les douze métadonnées demandées par la convention (article\u00a02.6) "
                   "et il est mis à jour au rythme annoncé (article\u00a02.2) : il n'y a rien à corriger.",
        "all": "Vos {n} jeux de données portent les douze métadonnées demandées par la convention (article\u00a02.6) "
               "et ils sont mis à jour au rythme annoncé (article\u00a02.2) : il n'y a rien à corriger.",
        "intro": "La convention de partenariat demande que chaque jeu de données porte douze métadonnées "
                 "(article\u00a02.6) et soit mis à jour au rythme annoncé par sa fréquence de mise à jour "
                 "(article\u00a02.2). Au {day}, {n_text} ; {todo_text} :",
        "n": "sur vos {n} jeux de données, {complete} et {late}",
        "complete": ("aucun n'est complet", "{n} est complet", "{n} sont complets"),
        "late_count": ("aucun n'est en retard", "{n} est en retard", "{n} sont en retard"),
        "n_one": "votre jeu de données est {state}",
        "state": {(True, False): "complet et à jour", (True, True): "complet mais en retard",
                  (False, False): "incomplet", (False, True): "incomplet et en retard"},
        "todo": "voici ce qu'il reste à faire",
        "untitled": "Jeu de données sans titre",
        "missing": "à compléter : {fields}.",
        "invalid": "la fréquence de mise à jour « {value} » n'est pas une valeur de la convention.",
        "late": "mise à jour attendue au plus tard le {due} (fréquence {frequency}, dernière mise à jour le "
                "{updated}).",
        "more": "… et {n} autres jeux de données à reprendre, à retrouver sur votre page de suivi.",
        "fix": "Pour compléter ou corriger une métadonnée : dans l'espace d'administration du portail, ouvrez le "
               "jeu de données, onglet « Informations », remplissez les champs nommés ci-dessus, puis enregistrez "
               "et publiez à nouveau le jeu de données.",
        "dcat": "Date de création, Date de publication, Fréquence de mise à jour, Couverture géographique et "
                "Granularité se trouvent dans le bloc « DCAT » de cet onglet ; s'il n'apparaît pas, demandez à "
                "l'administrateur du portail de l'activer.",
        "fix_late": "Pour un retard : publiez les données à jour ou, si le rythme annoncé ne correspond plus à la "
                    "réalité, choisissez une autre fréquence de mise à jour.",
        "frequencies": "La fréquence de mise à jour doit être l'une des valeurs de la convention : {values}.",
        "recheck": "Le service relit régulièrement le catalogue du portail (en général tous les quarts d'heure) : "
                   "une correction apparaît ensuite sur votre page de suivi et dans le rapport suivant.",
        "pool_none": "Aucun jeu de données n'a été trouvé dans le catalogue du portail.",
        "pool_intro": "Au {day}, sur les {n} jeux de données du catalogue, {complete} (les douze métadonnées de "
                      "l'article\u00a02.6 renseignées) et {late} de mise à jour (article\u00a02.2). Par partenaire :",
        "pool_all": "Les {n} jeux de données du catalogue sont complets et à jour.",
        "cols": ["Partenaire", "Jeux de données", "Complets", "En retard"],
        "unattributed": "Éditeur non rattaché à un partenaire",
    },
    "en": {
        "heading": "Metadata and updates",
        "none": "No dataset of yours was found in the portal's catalogue: there is nothing to check.",
        "all_one": "Your dataset carries the twelve metadata the agreement asks for (article\u00a02.6) and is updated "
                   "at the announced pace (article\u00a02.2): there is nothing to fix.",
        "all": "Your {n} datasets carry the twelve metadata the agreement asks for (article\u00a02.6) and are updated "
               "at the announced pace (article\u00a02.2): there is nothing to fix.",
        "intro": "The partnership agreement asks that every dataset carry twelve metadata (article\u00a02.6) and be "
                 "updated at the pace its update frequency announces (article\u00a02.2). On {day}, {n_text}; "
                 "{todo_text}:",
        "n": "of your {n} datasets, {complete} and {late}",
        "complete": ("none is complete", "{n} is complete", "{n} are complete"),
        "late_count": ("none is late", "{n} is late", "{n} are late"),
        "n_one": "your dataset is {state}",
        "state": {(True, False): "complete and up to date", (True, True): "complete but late",
                  (False, False): "incomplete", (False, True): "incomplete and late"},
        "todo": "here is what is left to do",
        "untitled": "Untitled dataset",
        "missing": "to fill in: {fields}.",
        "invalid": "the update frequency \"{value}\" is not one of the agreement's values.",
        "late": "update due by {due} (frequency: {frequency}, last updated on {updated}).",
        "more": "… and {n} more datasets to fix, listed on your usage page.",
        "fix": "To fill in or correct metadata: in the portal's back office, open the dataset, tab "
               "\"Information\", fill in the fields named above, then save and publish the dataset again.",
        "dcat": "Creation date, Publication date, Update frequency, Geographic coverage and Granularity are in "
                "the \"DCAT\" block of that tab; if it is not there, ask the portal's administrator to turn it on.",
        "fix_late": "For a late dataset: publish the updated data or, if the announced pace no longer matches, "
                    "choose another update frequency.",
        "frequencies": "The update frequency must be one of the agreement's values: {values}.",
        "recheck": "The service reads the portal's catalogue regularly (usually every quarter of an hour): a fix "
                   "then shows on your usage page and in the next report.",
        "pool_none": "No dataset was found in the portal's catalogue.",
        "pool_intro": "On {day}, of the catalogue's {n} datasets, {complete} (the twelve metadata of "
                      "article\u00a02.6 filled in) and {late} (article\u00a02.2). Per partner:",
        "pool_all": "The catalogue's {n} datasets are complete and up to date.",
        "cols": ["Partner", "Datasets", "Complete", "Late"],
        "unattributed": "Publisher not linked to a partner",
    },
}


def partner_section(checks: list[DatasetCheck], day: date, w: Words) -> Section:
    t = TEXT[w.lang]
    s = summarise(checks)
    if not checks:
        return Section(t["heading"], [t["none"]])
    if s.in_order:
        return Section(t["heading"], [t["all_one"] if s.datasets == 1 else t["all"].format(n=w.number(s.datasets))])
    if s.datasets == 1:
        n_text = t["n_one"].format(state=t["state"][(checks[0].complete, checks[0].late)])
    else:
        n_text = t["n"].format(n=w.number(s.datasets), complete=_count(t["complete"], s.complete, w),
                               late=_count(t["late_count"], s.late, w))
    intro = t["intro"].format(day=w.day(day), n_text=n_text, todo_text=t["todo"])
    items = [_item(c, w, t) for c in s.findings[:MAX_LISTED]]
    if len(s.findings) > MAX_LISTED:
        items.append(t["more"].format(n=w.number(len(s.findings) - MAX_LISTED)))
    after = [t["fix"]] if any(not c.complete for c in s.findings) else []
    if any(set(c.missing) & DCAT_FIELDS for c in s.findings):
        after.append(t["dcat"])
    if any(c.late for c in s.findings):
        after.append(t["fix_late"])
    if any("frequency" in c.missing or c.invalid for c in s.findings):
        # a no-break hyphen: "Bi-annuelle" is not cut at the end of a line
        labels = [(f.label_fr if w.lang == "fr" else f.label_en).replace("-", "\u2011") for f in FREQUENCIES]
        after.append(t["frequencies"].format(values=", ".join(labels)))
    after.append(t["recheck"])
    return Section(t["heading"], [intro], items=items, after=after)


def _count(forms: tuple[str, str, str], n: int, w: Words) -> str:
    """None, one or several: ``aucun n'est complet``, ``1 est complet``, ``2 sont complets``."""
    return forms[min(n, 2)].format(n=w.number(n))


def _frequency_words(label: str | None, w: Words) -> str:
    found = frequency(label or "")
    if found is None:
        return label or ""
    return (found.label_fr if w.lang == "fr" else found.label_en).lower()


def _item(c: DatasetCheck, w: Words, t: dict) -> str:
    """« Title » (id) : what to do, each problem in a short sentence."""
    name = f"«\u00a0{c.title}\u00a0»" if w.lang == "fr" and c.title else f"\"{c.title}\"" if c.title else t["untitled"]
    labels = LABELS_FR if w.lang == "fr" else LABELS_EN
    parts = []
    if c.missing:
        parts.append(t["missing"].format(fields=", ".join(labels[f] for f in c.missing)))
    for _ in c.invalid:
        parts.append(t["invalid"].format(value=c.frequency))
    if c.late and c.due is not None and c.last_update is not None:
        parts.append(t["late"].format(due=w.day(c.due.date()), frequency=_frequency_words(c.frequency, w),
                                      updated=w.day(c.last_update.date())))
    text = " ".join(parts)
    sep = " : " if w.lang == "fr" else ": "
    return f"{name} ({c.dataset}){sep}{text[:1].upper()}{text[1:]}"


def pool_section(by_sig: dict[str, list[DatasetCheck]], names: dict[str, str], day: date, w: Words) -> Section:
    """One line per partner active in the month (and one for datasets no partner claims)."""
    t = TEXT[w.lang]
    everything = summarise(c for found in by_sig.values() for c in found)
    if not everything.datasets:
        return Section(t["heading"], [t["pool_none"]])
    rows = []
    for sig in sorted(names, key=lambda s: names[s].casefold()):
        s = summarise(by_sig.get(sig, []))
        rows.append([names[sig], w.number(s.datasets), w.number(s.complete), w.number(s.late)])
    if by_sig.get(UNATTRIBUTED):
        s = summarise(by_sig[UNATTRIBUTED])
        rows.append([t["unattributed"], w.number(s.datasets), w.number(s.complete), w.number(s.late)])
    if everything.in_order:
        text = t["pool_all"].format(n=w.number(everything.datasets))
    else:
        text = t["pool_intro"].format(day=w.day(day), n=w.number(everything.datasets),
                                      complete=_count(t["complete"], everything.complete, w),
                                      late=_count(t["late_count"], everything.late, w))
    return Section(t["heading"], [text], Table(t["cols"], rows))
