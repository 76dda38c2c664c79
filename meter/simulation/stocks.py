"""``meter simulate --stocks``: DRF against one metric at a time, on the stocks.

The world's signatories (``simulate.signatories``) each ask a stock vector: records in
proportion to the square root of their population (lognormal spread), raw bytes at a bytes per
record of their own (50 to 1,500: narrow tables to wide ones), and content bytes of their own
(attachments, images; some partners store many). The demand is above the records and raw_bytes
caps and below the content_bytes one, so the partners' bottlenecks differ.

Both allotments are ``max_min_fair`` with the same weights (populations capped as in the
simulator): one metric at a time (``water_fill`` per metric), or jointly (``drf``). A signatory
can use only as much of its vector as its least-met component allows (a dataset's records come
with their bytes), so the report counts, per cap, what is **left idle** while somebody is
refused, and the **spread of dominant shares** (Jain's index of usable dominant share per unit of
weight, over the signatories not fully served; 1 = all at one level).
"""
from __future__ import annotations

import math
import random
from collections.abc import Mapping
from fractions import Fraction

from meter.allocation.base import Member
from meter.allocation.drf import STOCKS, Claim, dominant_shares, drf
from meter.allocation.max_min_fair import water_fill
from meter.allocation.rounding import round_exact
from meter.simulation.replay import WEIGHT_CAP, jain, signatories

CAPS = {"records": 20_000_000, "raw_bytes": 9_000_000_000, "content_bytes": 30_000_000_000}


def demand(seed: int) -> tuple[dict[str, float], dict[str, dict[str, int]]]:
    """Weights and stock vectors of the world's signatories, deterministic for a seed."""
    rng = random.Random(seed * 7919 + 1)
    weights, vectors = {}, {}
    for s in signatories(random.Random(seed)):
        records = round(650 * math.sqrt(s.population) * rng.lognormvariate(-0.3, 0.8))
        per_record = math.exp(rng.uniform(math.log(50), math.log(1_500)))
        content = round(700_000 * math.sqrt(s.population) * rng.lognormvariate(-0.5, 1.0))
        weights[s.id] = float(min(s.population, WEIGHT_CAP))
        vectors[s.id] = {"records": records, "raw_bytes": round(records * per_record), "content_bytes": content}
    return weights, vectors


def separate(weights: Mapping[str, float], vectors: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """max_min_fair one metric at a time."""
    return {m: round_exact(water_fill(CAPS[m], [Member(sid, w, vectors[sid][m]) for sid, w in weights.items()]))
            for m in STOCKS}


def joint(weights: Mapping[str, float], vectors: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    return drf(CAPS, [Claim(sid, w, vectors[sid]) for sid, w in weights.items()])


def measure(name: str, weights: Mapping[str, float], vectors: Mapping[str, Mapping[str, int]],
            allotted: Mapping[str, Mapping[str, int]]) -> dict[str, object]:
    """Idle capacity while someone is refused, and the spread of the refused's dominant shares."""
    usable = {sid: min([Fraction(allotted[m].get(sid, 0), v[m]) for m in STOCKS if v[m] > 0] + [Fraction(1)])
              for sid, v in vectors.items()}
    refused = [sid for sid, x in usable.items() if x < 1]
    used = {m: sum(usable[sid] * vectors[sid][m] for sid in vectors) for m in STOCKS}
    idle = {m: float(1 - used[m] / CAPS[m]) if refused else 0.0 for m in STOCKS}
    stranded = {m: float((sum(allotted[m].values()) - used[m]) / CAPS[m]) for m in STOCKS}
    shares = dominant_shares(CAPS, allotted, vectors)
    level = [float(shares[sid] / Fraction(weights[sid])) for sid in refused if weights[sid] > 0 and sid in shares]
    return {"policy": name, "refused": len(refused), "idle": idle, "stranded": stranded,
            "dominant_share_jain": jain(level)}


def run(seed: int) -> list[dict[str, object]]:
    weights, vectors = demand(seed)
    return [measure("per metric", weights, vectors, separate(weights, vectors)),
            measure("drf", weights, vectors, joint(weights, vectors))]


def format_report(rows: list[dict[str, object]], seed: int) -> str:
    head = (f"{'stocks':<12}{'refused':>9}{'idle records':>14}{'idle raw':>10}{'idle content':>14}"
            f"{'stranded':>10}{'Jain (dominant)':>17}")
    lines = [f"stocks, caps 20 M records, 9 GB raw, 30 GB content, seed {seed}", "", head, "-" * len(head)]
    for r in rows:
        idle: dict[str, float] = r["idle"]  # type: ignore[assignment]
        stranded = max(r["stranded"].values())  # type: ignore[attr-defined]
        lines.append(f"{r['policy']:<12}{r['refused']:>9}{idle['records']:>13.1%}{idle['raw_bytes']:>10.1%}"
                     f"{idle['content_bytes']:>14.1%}{stranded:>10.1%}{r['dominant_share_jain']:>17.3f}")
    return "\n".join(lines + ["", *LEGEND])


LEGEND = ["idle: share of the cap unused while somebody is refused (a signatory uses its vector only as far",
          "  as its least-met component); stranded: the largest share of a cap allotted but unusable by its holder;",
          "Jain (dominant): equality of the refused signatories' usable dominant shares per unit of weight"]
