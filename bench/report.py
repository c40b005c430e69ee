"""The bench's table: each figure beside its same-run baseline and its target."""

from __future__ import annotations

import argparse

TARGETS = {
    "ussd_ratio_16": 0.40,
    "ussd_p99_16_ms": 25.0,
    "intake_p50_ms": 200.0,
    "intake_p99_ms": 1000.0,
    "send_ratio": 0.5,
    "session_bytes": 700,
    "case_bytes": 4096,  # the case, its messages, her profile, and job data kept after jobs ran
    "submit_ratio": 1.5,  # the submit hop's p50 beside a menu hop's, same cell
    "scale_p99_ratio": 2.0,
}


STEPS = (("first", "first screen"), ("menu", "menu step"), ("submit", "final submit"))


# ---- the table -----------------------------------------------------------------------------
def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "FAIL")


def table(results: dict, args: argparse.Namespace) -> str:
    """The one table of the run."""
    rows: list[tuple[str, ...]] = []
    head = ("#", "what", "c", "figure", "p50 ms", "p99 ms", "err", "baseline (same run)")
    head += ("ratio", "target", "result", "noise")
    t = TARGETS
    for conns, pair in results.get("ussd", {}).items():
        flow, base, ratio = pair["ussd"], pair["bare"], pair["ratio"]
        ok, target = None, "-"
        if conns == "16":
            target = f">={t['ussd_ratio_16']:.2f}, p99<={t['ussd_p99_16_ms']:.0f}, 0 err"
            ok = ratio >= t["ussd_ratio_16"] and flow["p99_ms"] <= t["ussd_p99_16_ms"]
            ok = ok and flow["errors"] == 0
        elif conns in ("64", "256"):
            target, ok = "0 err", flow["errors"] == 0
        busy = f" +{flow['busy']} busy" if flow["busy"] else ""
        rows.append(
            (
                "1",
                "USSD help-flow steps (mix)",
                conns,
                f"{flow['rps']:,.0f} req/s",
                f"{flow['p50_ms']:.2f}",
                f"{flow['p99_ms']:.2f}",
                f"{flow['errors']}{busy}",
                f"bare {base['rps']:,.0f} req/s, p99 {base['p99_ms']:.2f}",
                f"{ratio:.2f}",
                target,
                verdict(ok),
                f"{max(flow['foreign_cores'], base['foreign_cores']):.2f}",
            )
        )
        if conns == "16":
            for kind, label in STEPS:
                step = flow["by_step"][kind]
                rows.append(
                    ("1", f"  of which {label}", conns, f"{step['n']:,} reqs")
                    + (f"{step['p50_ms']:.2f}", f"{step['p99_ms']:.2f}", "", "", "", "", "", "")
                )
            submit, menu = flow["by_step"]["submit"]["p50_ms"], flow["by_step"]["menu"]["p50_ms"]
            slower = submit / menu if menu else 0.0
            rows.append(
                ("1", "  submit beside a menu step (p50)", conns, f"{slower:.2f}x")
                + ("", "", "", f"menu step p50 {menu:.2f} ms", f"{slower:.2f}")
                + (f"<={t['submit_ratio']}", verdict(slower <= t["submit_ratio"]), "")
            )
            cpu, bare_cpu = flow["server_cpu_us_per_req"], base["server_cpu_us_per_req"]
            rows.append(
                ("1", "  server CPU per request", conns, f"{cpu:,.0f} us")
                + (
                    "",
                    "",
                    "",
                    f"bare {bare_cpu:,.0f} us",
                    f"{cpu / bare_cpu:.2f}" if bare_cpu else "-",
                )
                + ("-", "-", "")
            )
        least = pair.get("floor")
        if least:
            # bench/floor.py: what the least stateful hop costs on this machine, same run.
            rows.append(
                ("1", "  floor: bare + 1 read + 1 write", conns, f"{least['rps']:,.0f} req/s")
                + (f"{least['p50_ms']:.2f}", f"{least['p99_ms']:.2f}", str(least["errors"]))
                + (f"bare {base['rps']:,.0f} req/s; hop {flow['rps'] / least['rps']:.2f}x it",)
                + (f"{least['rps'] / base['rps']:.2f}", "-", "-")
                + (f"{least['foreign_cores']:.2f}",)
            )
            cpu = least["server_cpu_us_per_req"]
            rows.append(
                ("1", "  floor: server CPU per request", conns, f"{cpu:,.0f} us")
                + ("", "", "", f"hop {flow['server_cpu_us_per_req']:,.0f} us", "", "-", "-", "")
            )
    trips = results.get("round_trips")
    if trips:
        shown = ", ".join(f"{kind} {counts[0][0]}" for kind, counts in trips.items() if counts)
        rows.append(
            ("1", "Redis round trips per hop (counted)", "1", shown)
            + ("", "", "", "most common count of each kind of hop", "", "-", "-", "")
        )
    crowded = results.get("round_trips_crowded")
    if crowded:
        submit = dict(crowded.get("submit", []))
        shown = ", ".join(f"{n} round trips: {hops}" for n, hops in sorted(submit.items()))
        rows.append(
            ("1", "  submit, with many cases open", "1", shown or "-")
            + ("", "", "", f"{crowded['open_cases']:,} open cases", "", "-", "-", "")
        )
    intake = results.get("intake")
    if intake:
        chain = intake["chain"]
        ok = intake["p50_ms"] <= t["intake_p50_ms"] and intake["p99_ms"] <= t["intake_p99_ms"]
        ok = ok and intake["missing"] == 0
        rows.append(
            (
                "2",
                "submit -> first alert at fake Twilio",
                "1",
                f"{intake['cases'] - intake['missing']}/{intake['cases']} cases",
                f"{intake['p50_ms']:.0f}",
                f"{intake['p99_ms']:.0f}",
                str(intake["missing"]),
                f"RQ 2-job chain p50 {chain['p50_ms']:.0f}, p99 {chain['p99_ms']:.0f} ms",
                f"{intake['p50_ms'] / chain['p50_ms']:.1f}x" if chain["p50_ms"] else "-",
                f"p50<={t['intake_p50_ms']:.0f}, p99<={t['intake_p99_ms']:.0f} ms",
                verdict(ok),
                "",
            )
        )
    sending = results.get("sending")
    if sending:
        alerts, noop = sending["alerts"], sending["trivial"]
        rows.append(
            (
                "3",
                "alerts sent per second, worker pool",
                "1",
                f"{alerts['per_s']:.1f}/s ({alerts['n']})",
                "",
                "",
                "",
                f"trivial RQ job {noop['per_s']:.1f}/s ({noop['n']})",
                f"{sending['ratio']:.2f}",
                f">={t['send_ratio']}",
                verdict(sending["ratio"] >= t["send_ratio"]),
                "",
            )
        )
    session = results.get("session_memory")
    if session:
        rows.append(
            (
                "4",
                "Redis bytes per live USSD session",
                "",
                f"{session['per_session_bytes']:,.0f} B",
                "",
                "",
                "",
                f"used_memory delta {session['used_memory_delta_per_session']:,.0f} B",
                "",
                f"<={t['session_bytes']}",
                verdict(session["per_session_bytes"] <= t["session_bytes"]),
                "",
            )
        )
    case = results.get("case_memory")
    if case:
        rows.append(
            (
                "4",
                "Redis bytes per open case + alerts",
                "",
                f"{case['kept_bytes']:,.0f} B",
                "",
                "",
                "",
                f"case {case['gateway_bytes']:,.0f} +profile {case['phone_profile_bytes']:,.0f}"
                f" +jobs that ran {case['rq_bytes']:,.0f}; timers due later"
                f" {case['rq_waiting_bytes']:,.0f} B",
                "",
                f"<={t['case_bytes']}",
                verdict(case["kept_bytes"] <= t["case_bytes"]),
                "",
            )
        )
    scale = results.get("scale")
    if scale and scale["p99_without_ms"]:
        flow, base = scale["ussd"], scale["bare"]
        ratio = flow["p99_ms"] / scale["p99_without_ms"]
        ok = ratio <= t["scale_p99_ratio"] and flow["errors"] == 0
        rows.append(
            (
                "5",
                f"USSD with {scale['live_sessions_after']:,} live sessions",
                "16",
                f"{flow['rps']:,.0f} req/s",
                f"{flow['p50_ms']:.2f}",
                f"{flow['p99_ms']:.2f}",
                str(flow["errors"]),
                f"p99 without {scale['p99_without_ms']:.2f}; bare {base['rps']:,.0f} req/s",
                f"{ratio:.2f}",
                f"p99 ratio<={t['scale_p99_ratio']:.0f}",
                verdict(ok),
                f"{max(flow['foreign_cores'], base['foreign_cores']):.2f}",
            )
        )
    rows = [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = "  ".join("-" * w for w in widths)
    out = [
        f"Hamdam bench {results['started']}  ({results['machine']}; {args.duration:g} s per cell)",
        "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
        line,
    ]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    out.append(line)
    out.append(
        "noise = CPU cores used by other processes on the machine during the cell; "
        "err = socket errors, non-200 and wrong screens"
    )
    return "\n".join(out)
