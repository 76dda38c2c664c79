"""``meter simulate``: replay synthetic API demand under each policy, to choose one.

The world (deterministic for a seed): 206 signatories shaped like a French region's partners
(1 Region, 6 Départements, 80 EPCI, 119 communes, populations from 500 to 300,000, the Region
and Départements larger), a few heavy users (the Region's data hub, a metropolitan EPCI, a
Département's app, and a commune whose datasets a bot scrapes some months), three communes
joining and one EPCI leaving during the year, and a trickle of unattributed traffic. Daily
demand has a weekday rhythm, noise, bursts and slow growth; each day arrives in four blocks,
signatories in a shuffled order within each block, the same order for every policy.

The replay enforces what the meter enforces with borrowing off: the pool's monthly cap, and
each signatory's monthly allotment (``reserved`` then draws on the burst reserve, first come).
Allotments come from the real code (``members_for``, ``apportion``); weights are populations
capped at 300,000 (an EPCI's or the Region's population counts its communes again, and the
uncapped Region alone would weigh as much as all 119 communes together). ``max_min_fair``
forecasts demand with ``demand.forecast`` from the months before (three months of history
precede the first one, as a meter that metered before it allocated would have).
"""
from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from meter.allocation.base import UNATTRIBUTED, Allotment, Params, apportion
from meter.allocation.demand import forecast
from meter.allocation.enforce import Ledger
from meter.allocation.members import active_fraction, members_for
from meter.allocation.policies import POLICIES
from meter.core.periods import Period

CAP = 300_000  # api_calls per month, the convention's quota
WEIGHT_CAP = 300_000
START = date(2026, 1, 1)
TZ = ZoneInfo("Europe/Paris")
HISTORY_MONTHS = 3
BLOCKS = 4
WEEKDAY = (1.2, 1.2, 1.2, 1.2, 1.2, 0.5, 0.5)  # Monday first; the mean over a week is 1
GROWTH = 1.01  # per month
CALLS_PER_SQRT_POP = 4.0  # an ordinary partner's monthly calls per square root of its population
HEAVY = {"region": 40_000, "epci-01": 40_000, "dep-4": 25_000}  # monthly calls of the heavy users
BOT = "com-007"  # a commune whose datasets a bot scrapes now and then
BOT_CALLS_PER_DAY = 25_000
UNATTRIBUTED_PER_DAY = 250
PARAMS = Params(weight_by="weight")
DEMAND_POLICIES = ("max_min_fair", "elastic")  # forecast demand, as the allocator does


@dataclass(frozen=True)
class Signatory:
    id: str
    kind: str
    population: int
    monthly: float  # mean monthly calls at the start
    joined_at: date = date(2019, 6, 27)
    left_at: date | None = None

    @property
    def heavy(self) -> bool:
        return self.id in HEAVY or self.id == BOT

    def record(self) -> dict[str, object]:
        """As the registry stores it: the weight is the capped population."""
        return {"id": self.id, "name": self.id, "kind": self.kind, "population": self.population,
                "weight": min(self.population, WEIGHT_CAP), "joined_at": self.joined_at.isoformat(),
                "left_at": self.left_at.isoformat() if self.left_at else None}


@dataclass
class World:
    """Everything a replay reads; the same for every policy."""

    signatories: list[Signatory]
    periods: list[Period]  # history months first, then the simulated ones
    days: list[list[list[tuple[str, int]]]]  # per period, per day: (signatory, calls) in arrival order
    demand: list[Counter[str]]  # per period: calls asked per signatory
    records: list[dict[str, object]] = field(init=False)

    def __post_init__(self) -> None:
        self.records = [s.record() for s in self.signatories]
        self._full = [self._per_full_period(p, asked) for p, asked in zip(self.periods, self.demand, strict=True)]

    def history(self, upto: int) -> dict[str, list[int]]:
        """Demand of the periods before ``upto``, newest last, as the meter would have recorded it."""
        found: dict[str, list[int]] = {}
        for month in self._full[:upto]:
            for sid, calls in month.items():
                found.setdefault(sid, []).append(calls)
        return found

    def _per_full_period(self, period: Period, asked: Counter[str]) -> dict[str, int]:
        """A partial period's demand divided by its active fraction, as ``demand.forecast`` expects."""
        fractions = {str(r["id"]): active_fraction(r, period) for r in self.records}
        return {sid: round(asked[sid] / f) for sid, f in fractions.items() if f > 0}


@dataclass(frozen=True)
class Result:
    policy: str
    demand: int
    served: int
    denied_with_room: int
    fairness: float
    days_out: int
    heavy_met: float  # percent
    others_met: float  # percent

    @property
    def met(self) -> float:
        return 100 * self.served / self.demand if self.demand else 100.0


# the world


def build_world(months: int, seed: int) -> World:
    rng = random.Random(seed)
    people = signatories(rng, months)
    periods = _months(START, -HISTORY_MONTHS, months)
    bot_months = {p.first_day for p in periods if rng.random() < 0.4}
    days: list[list[list[tuple[str, int]]]] = []
    demand: list[Counter[str]] = []
    for index, period in enumerate(periods):
        bot = period.first_day in bot_months
        asked = [_day_demand(rng, people, day, index, bot) for day in _dates(period)]
        demand.append(sum(asked, Counter()))
        days.append([_arrivals(rng, day_asked) for day_asked in asked])
    return World(people, periods, days, demand)


def signatories(rng: random.Random, months: int = 12) -> list[Signatory]:
    """1 Region, 6 Départements, 80 EPCI, 119 communes; heavy users and a few arrivals and departures."""
    found = [_signatory(rng, "region", "region", 2_573_000)]
    found += [_signatory(rng, f"dep-{i}", "departement", _log_uniform(rng, 200_000, 700_000)) for i in range(1, 7)]
    found += [_signatory(rng, f"epci-{i:02}", "epci", _log_uniform(rng, 5_000, 300_000)) for i in range(1, 81)]
    found += [_signatory(rng, f"com-{i:03}", "commune", _log_uniform(rng, 500, 150_000)) for i in range(1, 120)]
    return [_with_dates(s, months) for s in found]


def _signatory(rng: random.Random, sid: str, kind: str, population: int) -> Signatory:
    if sid == "epci-01":
        population = 300_000  # the metropolitan EPCI
    ordinary = CALLS_PER_SQRT_POP * math.sqrt(population) * rng.lognormvariate(-0.18, 0.6)
    return Signatory(sid, kind, population, HEAVY.get(sid, ordinary))


def _with_dates(s: Signatory, months: int) -> Signatory:
    """Three communes join and one EPCI leaves, on dates that fall inside the run when it is long enough."""
    changes = {"com-117": ("joined_at", 1, 15), "com-118": ("joined_at", 4, 0), "com-119": ("joined_at", 6, 9),
               "epci-80": ("left_at", 8, 14)}
    if s.id not in changes:
        return s
    what, month, day = changes[s.id]
    when = _add_months(START, month % max(months, 1)) + timedelta(days=day)
    return replace(s, joined_at=when) if what == "joined_at" else replace(s, left_at=when)


def _log_uniform(rng: random.Random, low: int, high: int) -> int:
    return round(math.exp(rng.uniform(math.log(low), math.log(high))))


def _day_demand(rng: random.Random, people: Sequence[Signatory], day: date, month: int,
                bot: bool) -> Counter[str]:
    asked: Counter[str] = Counter()
    for s in people:
        if s.joined_at <= day and (s.left_at is None or day < s.left_at):
            asked[s.id] = _calls(rng, s.monthly * GROWTH ** month * 12 / 365.25 * WEEKDAY[day.weekday()],
                                 burst=0.03 if s.heavy else 0.015)
    if bot and 10 <= day.day < 14:  # a scraper works four days from the 10th
        asked[BOT] += BOT_CALLS_PER_DAY
    asked[UNATTRIBUTED] = _calls(rng, UNATTRIBUTED_PER_DAY * WEEKDAY[day.weekday()], burst=0.0)
    return asked


def _calls(rng: random.Random, mean: float, burst: float) -> int:
    """Noise around the mean (lognormal, mean-preserving), sometimes a burst of 3-10 times."""
    x = mean * rng.lognormvariate(-0.08, 0.4)
    if rng.random() < burst:
        x *= rng.uniform(3, 10)
    whole = int(x)
    return whole + (rng.random() < x - whole)


def _arrivals(rng: random.Random, asked: Counter[str]) -> list[tuple[str, int]]:
    """A day's calls in ``BLOCKS`` blocks; within each block the callers come in a shuffled order."""
    order: list[tuple[str, int]] = []
    for k in range(BLOCKS):
        block = [(sid, n * (k + 1) // BLOCKS - n * k // BLOCKS) for sid, n in sorted(asked.items())]
        block = [(sid, n) for sid, n in block if n > 0]
        rng.shuffle(block)
        order += block
    return order


def _months(start: date, first: int, count: int) -> list[Period]:
    return [Period("month", _add_months(start, i), TZ) for i in range(first, count)]


def _add_months(d: date, n: int) -> date:
    index = d.year * 12 + d.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def _dates(period: Period) -> list[date]:
    return [period.first_day + timedelta(days=i) for i in range((period.end_day - period.first_day).days)]


# the replay


@dataclass
class _Tally:
    served: Counter[str] = field(default_factory=Counter)
    denied_with_room: int = 0
    days_out: int = 0


def replay(world: World, name: str) -> Result:
    tally = _Tally()
    for index in range(HISTORY_MONTHS, len(world.periods)):
        _replay_month(world, name, index, tally)
    asked = sum(world.demand[HISTORY_MONTHS:], Counter())
    return _result(name, world, asked, tally)


def _replay_month(world: World, name: str, index: int, tally: _Tally) -> None:
    """One month through the service's rules; idle room is counted at the month's end (§5)."""
    ledger = _ledger(name, _allotment(world, name, index), world.periods[index])
    days = world.days[index]
    denied = 0
    for day_index, day in enumerate(days):
        denied += _serve_day(ledger, day, tally, day_index, len(days))
    tally.denied_with_room += min(denied, CAP - ledger.pool)


def _ledger(name: str, allotment: Allotment | None, period: Period) -> Ledger:
    """The month's counters under the policy's rules, as decide.lua enforces them."""
    if allotment is None:
        return Ledger(CAP)
    return Ledger(CAP, allotment.shares, allotment.burst if name == "reserved" else None,
                  period.seconds if name == "elastic" else None)


def _allotment(world: World, name: str, index: int) -> Allotment | None:
    if name == "none":
        return None
    demand = forecast(world.history(index)) if name in DEMAND_POLICIES else None
    members = members_for(world.records, world.periods[index], "weight", demand)
    return apportion(POLICIES[name], CAP, members, PARAMS)


def _serve_day(ledger: Ledger, day: list[tuple[str, int]], tally: _Tally, day_index: int, days: int) -> int:
    """The day's arrivals in order, each at its own instant of the month; returns the calls denied."""
    ran_out, denied = False, 0
    length = ledger.index.length if ledger.index is not None else 0
    for i, (sid, n) in enumerate(day):
        elapsed = int((day_index + (i + 0.5) / len(day)) * length / days)
        allowed = ledger.serve(sid, n, elapsed)
        if sid == UNATTRIBUTED:
            continue
        tally.served[sid] += allowed
        denied += n - allowed
        ran_out = ran_out or (allowed < n and ledger.pool >= CAP)
    tally.days_out += ran_out
    return denied


def _result(name: str, world: World, asked: Counter[str], tally: _Tally) -> Result:
    ids = [s.id for s in world.signatories if asked[s.id] > 0]
    heavy = [s.id for s in world.signatories if s.heavy and asked[s.id] > 0]
    others = [sid for sid in ids if sid not in heavy]
    return Result(name, sum(asked[i] for i in ids), sum(tally.served[i] for i in ids), tally.denied_with_room,
                  jain([tally.served[i] / asked[i] for i in ids]), tally.days_out,
                  _met(heavy, asked, tally.served), _met(others, asked, tally.served))


def _met(ids: Iterable[str], asked: Counter[str], served: Counter[str]) -> float:
    ids = list(ids)
    total = sum(asked[i] for i in ids)
    return 100 * sum(served[i] for i in ids) / total if total else 100.0


def jain(xs: Sequence[float]) -> float:
    """Jain's fairness index (sum x)^2 / (n sum x^2): 1 when all are equal, 1/n when one has everything."""
    squares = sum(x * x for x in xs)
    return sum(xs) ** 2 / (len(xs) * squares) if squares else 1.0


def run(policies: Sequence[str], months: int, seed: int = 1) -> list[Result]:
    world = build_world(months, seed)
    return [replay(world, name) for name in policies]


# the report and the command


def format_report(results: Sequence[Result], months: int | None = None, seed: int | None = None) -> str:
    head = f"{'policy':<14}{'demand met':>11}{'heavy':>9}{'others':>9}{'denied with room':>18}" \
           f"{'fairness':>10}{'days out':>10}"
    lines = [_title(results, months, seed), "", head, "-" * len(head)]
    lines += [f"{r.policy:<14}{r.met:>10.1f}%{r.heavy_met:>8.1f}%{r.others_met:>8.1f}%"
              f"{r.denied_with_room:>18,}{r.fairness:>10.3f}{r.days_out:>10}" for r in results]
    return "\n".join(lines + ["", *_legend()])


def _title(results: Sequence[Result], months: int | None, seed: int | None) -> str:
    demand = results[0].demand if results else 0
    run_text = f"{months} month(s) from {START:%Y-%m}" if months else "the run"
    seed_text = f", seed {seed}" if seed is not None else ""
    return (f"api_calls, cap {CAP:,} a month, {run_text}{seed_text}: "
            f"signatories asked {demand:,} calls")


def _legend() -> list[str]:
    return ["demand met: calls served / calls asked by signatories (heavy: the 4 heavy users; others: the rest)",
            "denied with room: per month, the smaller of the calls denied and the cap left unused at its end",
            "fairness: Jain's index of each signatory's satisfied fraction (1 = everyone equally served)",
            "days out: days on which a call was denied because the pool's cap was used up"]


def as_json(results: Sequence[Result], months: int, seed: int) -> dict[str, object]:
    """The shape of DESIGN §5: fractions in [0, 1] of the calls asked, counts as integers."""
    return {"seed": seed, "months": months, "asked": results[0].demand if results else 0,
            "policies": {r.policy: {"demand_met": r.met / 100, "heavy": r.heavy_met / 100,
                                    "others": r.others_met / 100, "denied_with_room": r.denied_with_room,
                                    "fairness": r.fairness, "days_out": r.days_out} for r in results}}
