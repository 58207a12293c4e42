"""Markdown tables: the targets, and every measured cell laid out store x operation."""

from typing import Dict, List

from .ratios import SEALED_PAIRS, SEALED_SIZES, request_cycles, sealed_ratio, size_label, targets

OPS = ["get", "create", "save", "touch", "rotate", "deleteByUserId"]


def _fmt(r: Dict) -> str:
    if r is None:
        return ""
    if "missing" in r:
        return "—"
    return f"{r['ops_per_s']:,.0f} ({r['p50_us']:.0f}/{r['p99_us']:.0f})"


def targets_table(rows: List[Dict]) -> str:
    out = ["| target | measured | goal | met | note |", "|---|---|---|---|---|"]
    for t in targets(rows):
        v = "n/a" if t["ratio"] is None else f"{t['ratio']:.2f}"
        met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
        out.append(f"| {t['target']} | {v} | {t['goal']} | {met} | {t['note']} |")
    return "\n".join(out)


def pairs_table(rows: List[Dict]) -> str:
    """Each head-to-head side in each cell: its median and every round, in the order they ran."""
    sides = [r for r in rows if r.get("runner") == "pairs" and "rounds" in r]
    if not sides:
        return "_pairs: not run_\n"
    out = ["| pair | size | in flight | store | median ops/s (p50/p99 µs) | rounds, ops/s | rounds, p50 µs |",
           "|---|---|---|---|---|---|---|"]
    for r in sides:
        rounds = ", ".join(f"{x / 1000:.1f} k" for x in r["rounds"])
        p50s = ", ".join(f"{x:.0f}" for x in r.get("p50_rounds", []))
        size = size_label(r["size"]) if "size" in r else ""
        out.append(f"| {r['pair']} | {size} | {r.get('in_flight', '')} | {r['impl']} | {_fmt(r)} | {rounds} | {p50s} |")
    return "\n".join(out) + "\n"


def request_table(rows: List[Dict]) -> str:
    """The request cycles measured head to head: both sides and the median of the per-round ratios."""
    cycles = request_cycles(rows)
    if not cycles:
        return "_request cycles: not run_\n"
    out = ["| pair | size | in flight | omnisession ops/s (p50/p99 µs) | peer | peer ops/s (p50/p99 µs) | ratio (median) |",
           "|---|---|---|---|---|---|---|"]
    for c in cycles:
        out.append(f"| {c['pair']} | {size_label(c['size'])} | {c['in_flight']} | {_fmt(c['omnisession'])} | {c['peer']} "
                   f"| {_fmt(c['other'])} | {c['ratio']:.2f} |")
    return "\n".join(out) + "\n"


def sealed_table(rows: List[Dict]) -> str:
    """Each sealed cookie cell: both sides, their cookies, and the median of the per-round ratios."""
    out = ["| pair | size | in flight | omnisession ops/s (p50/p99 µs) | peer | peer ops/s (p50/p99 µs) "
           "| cookie bytes (omnisession / peer) | ratio (median) | per-round ratios |",
           "|---|---|---|---|---|---|---|---|---|"]
    for label, pair, peer, in_flights, _ in SEALED_PAIRS:
        for size in SEALED_SIZES:
            for in_flight in in_flights:
                got = sealed_ratio(rows, pair, peer, size, in_flight)
                if got is None:
                    continue
                ratio, a, b = got
                per_round = ", ".join(f"{x / y:.2f}" for x, y in zip(a["rounds"], b["rounds"]) if y)
                out.append(f"| {label} | {size_label(size)} | {in_flight} | {_fmt(a)} | {b.get('api', peer)} | {_fmt(b)} "
                           f"| {a.get('cookie_bytes', '')} / {b.get('cookie_bytes', '')} | {ratio:.2f} | {per_round} |")
    if len(out) == 2:
        return "_sealed: not run_\n"
    return "\n".join(out) + "\n"


def matrix(rows: List[Dict], runner: str) -> str:
    cells = [r for r in rows if r.get("runner") == runner and "op" in r]
    if not cells:
        return f"_{runner}: not run_\n"
    keys = sorted({(r["size"], r["in_flight"]) for r in cells})
    impls = list(dict.fromkeys((r["impl"], r["backend"]) for r in cells))
    out = []
    for size, inflight in keys:
        out += [f"**{runner}, {size // 1024} KiB, {inflight} in flight** — ops/s (p50/p99 µs); — = the store has no such operation",
                "", "| store | backend | " + " | ".join(OPS) + " |", "|---|---|" + "---|" * len(OPS)]
        for impl, backend in impls:
            got = {r["op"]: r for r in cells if (r["impl"], r["backend"], r["size"], r["in_flight"]) == (impl, backend, size, inflight)}
            if got:
                out.append(f"| {impl} | {backend} | " + " | ".join(_fmt(got.get(op)) for op in OPS) + " |")
        out.append("")
    return "\n".join(out)


def scaling_table(rows: List[Dict]) -> str:
    out = ["| backend | stored | get p50 µs | get p99 µs | fill s |", "|---|---|---|---|---|"]
    for r in rows:
        if r.get("scenario") == "scaling":
            out.append(f"| {r['backend']} | {r['stored']:,} | {r['p50_us']:.0f} | {r['p99_us']:.0f} | {r['fill_s']:.1f} |")
    out += ["", "| backend | live N | expired E | cleanup ms |", "|---|---|---|---|"]
    for r in rows:
        if r.get("scenario") == "cleanup":
            out.append(f"| {r['backend']} | {r['live']:,} | {r['expired']:,} | {r['cleanup_ms']:.1f} |")
    for r in rows:
        if r.get("scenario") == "rss":
            out += ["", f"Memory backend: {r['bytes_per_session']:,.0f} bytes of RSS per stored session "
                        f"(session JSON {r['session_json_bytes']} bytes, {r['count']:,} sessions)."]
    return "\n".join(out)
