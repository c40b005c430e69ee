"""Anonymous figures for donors and partners: counts, times, delivery; small cells suppressed."""

from __future__ import annotations

import csv
import io
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from gateway.cases import AID_KINDS, CaseState, Referral
from gateway.directory import Directory, Group
from gateway.message import HANDED, MessageState
from gateway.store import Store

MIN_CELL = 5  # a count under this could point at a person in a small village: shown as "<5"


DEFAULT_DAYS = 30
# How a donor report groups the kinds of aid ("women who received legal, social and economic
# aid"); every kind is in one group.
AID_GROUPS = {
    "legal": ("legal", "police"),
    "social": ("shelter", "medical", "psych", "referral", "peer"),
    "economic": ("economic", "debt"),
}


def span(now: float, start: float | None = None, end: float | None = None) -> tuple[float, float]:
    """A report's period: to the end of today and DEFAULT_DAYS before it, unless given."""
    until = end if end is not None else now - now % 86400 + 86400
    return (start if start is not None else until - DEFAULT_DAYS * 86400), until


def cell(count: int) -> str:
    """A count as it may be published."""
    return f"<{MIN_CELL}" if 0 < count < MIN_CELL else str(count)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return values[max(math.ceil(share * len(values)) - 1, 0)]


@dataclass
class Report:
    """The figures of one period."""

    start: float
    end: float
    total: int = 0
    by_district_kind: Counter = field(default_factory=Counter)
    by_month: Counter = field(default_factory=Counter)
    accept_minutes: list[float] = field(default_factory=list)
    escalated: int = 0
    taken_open: int = 0  # taken by a responder and not closed: her data stays until closed
    handed: Counter = field(default_factory=Counter)  # route -> messages handed to it
    delivered: Counter = field(default_factory=Counter)
    segments: Counter = field(default_factory=Counter)
    # Aid given: cases (one woman each) per kind; per (district, month, kind); with more than
    # one kind; days from opening to the first aid recorded.
    aid: Counter = field(default_factory=Counter)
    aid_by_place_month: Counter = field(default_factory=Counter)
    aid_several: int = 0
    aid_days: list[float] = field(default_factory=list)
    aid_by_place_group: Counter = field(default_factory=Counter)  # (district, group) -> women
    helped_in: Counter = field(default_factory=Counter)  # district -> women who received aid
    # Referrals (a case's newest) made in the period: (from, to) -> made, and accepted.
    referred: Counter = field(default_factory=Counter)
    referral_accepted: Counter = field(default_factory=Counter)
    # Mutual aid groups: members now (group name -> count), broadcasts made in the period, and
    # their messages handed to a provider and delivered.
    members: Counter = field(default_factory=Counter)
    broadcasts: int = 0
    broadcast_handed: int = 0
    broadcast_delivered: int = 0

    @property
    def helped(self) -> int:
        """Women who received any aid."""
        return sum(self.helped_in.values())

    def days_to_aid(self) -> str:
        """Median days from opening to the first aid, or '-' for fewer than 5 cases."""
        if len(self.aid_days) < MIN_CELL:
            return "-"
        return f"{percentile(sorted(self.aid_days), 0.5):.1f}"

    def acceptance(self) -> tuple[str, str]:
        """Median and 90th percentile minutes to acceptance, or '-' for fewer than 5 cases."""
        if len(self.accept_minutes) < MIN_CELL:
            return "-", "-"
        ordered = sorted(self.accept_minutes)
        return f"{percentile(ordered, 0.5):.0f}", f"{percentile(ordered, 0.9):.0f}"


def build(
    store: Store,
    start: float,
    end: float,
    district_names: dict[str, str],
    districts: set[str] | None = None,
    org: str = "",
) -> Report:
    """The report over cases opened in [start, end) and messages created then; with
    `districts`, only the cases of those districts (one organisation's) and their messages,
    and with `org`, only the referrals it made or received."""
    report = Report(start, end)
    counted: set[str] = set()
    for case in store.cases.iter():
        _count_referral(report, case, org)
        created = float(case.get("created") or 0)
        if not start <= created < end:
            continue
        if districts is not None and not _holds(case, districts, org):
            continue
        counted.add(case.get("id", ""))
        report.total += 1
        district = district_names.get(case.get("district", ""), case.get("district", "?"))
        report.by_district_kind[(district, case.get("kind", "?"))] += 1
        month = time.strftime("%Y-%m", time.gmtime(created))
        report.by_month[month] += 1
        given = [kind for kind in case.get("aid", "").split(",") if kind]
        for kind in given:
            report.aid[kind] += 1
            report.aid_by_place_month[(district, month, kind)] += 1
        report.aid_several += len(given) > 1
        if given:
            report.helped_in[district] += 1
        for group, kinds in AID_GROUPS.items():
            report.aid_by_place_group[(district, group)] += bool(set(given) & set(kinds))
        if case.get("aid_at") and float(case["aid_at"]):
            report.aid_days.append((float(case["aid_at"]) - created) / 86400)
        if case.get("taken_at"):
            report.accept_minutes.append((float(case["taken_at"]) - created) / 60)
        if int(case.get("tier") or 0) > 0:
            report.escalated += 1
        report.taken_open += case.get("state") == CaseState.TAKEN
    for message in store.messages.iter():
        if not start <= float(message.get("created") or 0) < end:
            continue
        if districts is not None and message.get("case") not in counted:
            continue
        route = message.get("route", "")
        if route and message.get("state") in HANDED:
            report.handed[route] += 1
            report.segments[route] += int(message.get("segments") or 0)
            report.delivered[route] += message.get("state") == MessageState.DELIVERED
    return report


def _holds(case: dict[str, str], districts: set[str], org: str) -> bool:
    """True when the organisation (serving `districts`) holds the case: its district's, unless
    a referral moved it to another."""
    if case.get("org"):
        return case["org"] == org
    return case.get("district") in districts


def _count_referral(report: Report, case: dict[str, str], org: str) -> None:
    """Count the case's newest referral if it was made in the period (and touches `org`)."""
    sender, to = case.get("referral_from", ""), case.get("referral_to", "")
    if not case.get("referral") or (org and org not in (sender, to)):
        return
    if report.start <= float(case.get("referred_at") or 0) < report.end:
        report.referred[(sender, to)] += 1
        report.referral_accepted[(sender, to)] += case["referral"] == Referral.ACCEPTED


def of_directory(
    store: Store, start: float, end: float, directory: Directory, org: str = ""
) -> Report:
    """build() with the directory's English district names, over one organisation's districts
    (every organisation's with '')."""
    names = {d.id: d.names["en"] for d in directory.districts.values()}
    districts = directory.districts_of(org) if org else None
    report = build(store, start, end, names, districts, org)
    _count_groups(
        report, store, [g for g in directory.groups.values() if org in ("", g.organisation)]
    )
    return report


def _count_groups(report: Report, store: Store, groups: list[Group]) -> None:
    """Members of each group, and the broadcasts to them made in the period and their
    delivery."""
    ids = {g.id for g in groups}
    for group in groups:
        report.members[group.name] = store.members.count(group.id)
    for broadcast in store.members.broadcasts(limit=10_000):
        made = float(broadcast.get("created") or 0)
        if broadcast.get("group") not in ids or not report.start <= made < report.end:
            continue
        report.broadcasts += 1
        states = store.members.states(broadcast["id"])
        report.broadcast_handed += sum(n for state, n in states.items() if state in HANDED)
        report.broadcast_delivered += states[MessageState.DELIVERED]


def rows(report: Report) -> list[tuple[str, ...]]:
    """The report as (section, key, value) rows, suppression applied."""
    out = [("cases", "total", cell(report.total))]
    out += [("cases by month", m, cell(n)) for m, n in sorted(report.by_month.items())]
    for (district, kind), n in sorted(report.by_district_kind.items()):
        out.append(("cases by district and kind", f"{district} / {kind}", cell(n)))
    median, p90 = report.acceptance()
    out += [
        ("time to acceptance", "median minutes", median),
        ("time to acceptance", "90th percentile minutes", p90),
        ("escalations", "cases that reached a second tier", cell(report.escalated)),
        ("not closed", "cases taken but never closed", cell(report.taken_open)),
    ]
    out += [("aid given", f"women who received {kind} aid", cell(n)) for kind, n in _aid(report)]
    out += [
        ("aid given", "women who received more than one kind", cell(report.aid_several)),
        ("aid given", "median days from opening to the first aid", report.days_to_aid()),
    ]
    for (district, month, kind), n in sorted(report.aid_by_place_month.items()):
        out.append(("aid by district and month", f"{district} / {month} / {kind}", cell(n)))
    for (sender, to), n in sorted(report.referred.items()):
        out += [
            ("referrals", f"{sender} to {to}: referred", cell(n)),
            (
                "referrals",
                f"{sender} to {to}: accepted",
                cell(report.referral_accepted[(sender, to)]),
            ),
        ]
    out += [("groups", f"members of {name}", cell(n)) for name, n in sorted(report.members.items())]
    if report.members:
        handed = report.broadcast_handed
        out += [
            ("groups", "messages to groups", str(report.broadcasts)),
            ("groups", "their SMS handed to a provider", cell(handed)),
            ("groups", "their SMS delivered", _share(report.broadcast_delivered, handed)),
        ]
    for route in sorted(report.handed):
        handed = report.handed[route]
        out += [
            ("delivery", f"{route}: messages handed over", cell(handed)),
            ("delivery", f"{route}: delivered", _share(report.delivered[route], handed)),
            ("SMS segments", route, str(report.segments[route])),
        ]
    return out


def _share(delivered: int, handed: int) -> str:
    """Delivered as a share of handed, or '-' for fewer than MIN_CELL."""
    return f"{100 * delivered / handed:.0f}%" if handed >= MIN_CELL else "-"


def _aid(report: Report) -> list[tuple[str, int]]:
    """(kind, cases) for every kind of aid, in the vocabulary's order (zeros included)."""
    return [(kind, report.aid[kind]) for kind in AID_KINDS]


def headline(report: Report) -> str:
    """The donor's sentence: "N women received legal, social and economic aid in A, B and C,
    <period>"; N under MIN_CELL shown as such, and only districts with MIN_CELL or more named."""
    given = {group for (_, group), n in report.aid_by_place_group.items() if n}
    groups = [group for group in AID_GROUPS if group in given]
    places = sorted(d for d, n in report.helped_in.items() if n >= MIN_CELL)
    where = f" in {_listed(places)}" if places else ""
    kinds = _listed(groups) or "no"
    return f"{cell(report.helped)} women received {kinds} aid{where}, {period(report)}"


def donor_rows(report: Report) -> list[tuple[str, ...]]:
    """The donor's CSV: the headline, then women aided per district and group of aid."""
    out = [
        ("headline", "", headline(report)),
        ("women who received aid", "total", cell(report.helped)),
    ]
    for (district, group), n in sorted(report.aid_by_place_group.items()):
        if n:
            out.append(("women who received aid", f"{district} / {group}", cell(n)))
    return out


def _listed(names: list[str]) -> str:
    """A, B and C."""
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


def period(report: Report) -> str:
    """The period as every format states it."""
    return f"{_day(report.start)} to {_day(report.end)} (end excluded)"


def as_table(report: Report) -> str:
    """Plain text for a terminal."""
    lines = [f"Hamdam report, {period(report)}; counts under {MIN_CELL} shown as <{MIN_CELL}", ""]
    section = None
    for name, key, value in rows(report):
        if name != section:
            lines.append(name)
            section = name
        lines.append(f"  {key:<44} {value:>8}")
    return "\n".join(lines) + "\n"


def as_csv(report: Report, donor: bool = False) -> str:
    """CSV with section, item, value columns (with `donor`, the donor's rows)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(("section", "item", "value"))
    writer.writerows(donor_rows(report) if donor else rows(report))
    return buffer.getvalue()


def as_png(report: Report, path: Path | io.BytesIO) -> None:
    """Write the chart of `chart` as a PNG file (or into a buffer)."""
    import matplotlib.pyplot as plt

    fig = chart(report)
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)


def chart(report: Report):
    """A figure: cases by district and kind (suppressed cells left out, and kinds left with no
    bar left out of the legend) and the median and 90th-percentile minutes to acceptance."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt

    shown = {key: n for key, n in report.by_district_kind.items() if n >= MIN_CELL}
    districts = sorted({d for d, _ in report.by_district_kind})
    kinds = sorted({k for _, k in shown})
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), width_ratios=[3, 2])
    bottom = [0] * len(districts)
    for kind in kinds:
        values = [shown.get((d, kind), 0) for d in districts]
        left.bar(districts, values, bottom=bottom, label=kind)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    left.set_title(f"Cases by district and kind (cells under {MIN_CELL} left out)")
    left.set_ylabel("cases")
    if kinds:
        left.legend(fontsize="small")
    left.tick_params(axis="x", rotation=30)
    median, p90 = report.acceptance()
    if median != "-":
        # The two figures only: a histogram's bins would show counts under 5.
        right.bar(["median", "90th percentile"], [int(median), int(p90)], color="#4a7")
        right.set_title(f"Minutes to acceptance ({len(report.accept_minutes)} cases)")
        right.set_ylabel("minutes")
    else:
        right.text(0.5, 0.5, f"fewer than {MIN_CELL} accepted cases", ha="center")
        right.set_axis_off()
    fig.suptitle(headline(report), wrap=True)
    fig.tight_layout()
    return fig


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))
