"""PNG plots of a run: per-runner throughput bars, get latency against sessions stored, and
cleanup time against expired and stored counts."""

import os
from typing import Dict, List

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402

OPS = ["get", "create", "save", "touch", "rotate", "deleteByUserId"]


def _bars(rows: List[Dict], runners: List[str], title: str, path: str) -> None:
    cells = [r for r in rows if r.get("runner") in runners and "ops_per_s" in r and r.get("size") == 1024]
    if not cells:
        return
    inflights = sorted({r["in_flight"] for r in cells})
    fig, axes = plt.subplots(1, len(inflights), figsize=(7 * len(inflights), 4.5), squeeze=False)
    for ax, inflight in zip(axes[0], inflights):
        mine = [r for r in cells if r["in_flight"] == inflight]
        stores = list(dict.fromkeys(f"{r['impl']} ({r['backend']})" if r['runner'] != 'go' else f"Go {r['impl']} ({r['backend']})" for r in mine))
        width = 0.8 / max(1, len(stores))
        for k, store in enumerate(stores):
            ys = []
            for op in OPS:
                hit = [r for r in mine if op == r["op"] and (f"{r['impl']} ({r['backend']})" == store or f"Go {r['impl']} ({r['backend']})" == store)]
                ys.append(hit[0]["ops_per_s"] if hit else 0)
            ax.bar([i + k * width for i in range(len(OPS))], ys, width, label=store)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(OPS))], OPS, rotation=20)
        ax.set_yscale("log")
        ax.set_ylabel("ops/s (log)")
        ax.set_title(f"{title}: 1 KiB, {inflight} in flight")
        ax.legend(fontsize=7)
    _save(fig, path)


def _scaling(rows: List[Dict], path: str) -> None:
    pts = [r for r in rows if r.get("scenario") == "scaling"]
    if not pts:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for backend in ("memory", "sqlite", "redis"):
        mine = sorted((r["stored"], r["p50_us"], r["p99_us"]) for r in pts if r["backend"] == backend)
        ax.plot([m[0] for m in mine], [m[2] for m in mine], marker="o", label=f"{backend} p99")
        ax.plot([m[0] for m in mine], [m[1] for m in mine], marker=".", linestyle="--", label=f"{backend} p50")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sessions stored")
    ax.set_ylabel("get latency µs (1 in flight)")
    ax.legend(fontsize=7)
    _save(fig, path)


def _cleanup(rows: List[Dict], path: str) -> None:
    pts = [r for r in rows if r.get("scenario") == "cleanup"]
    if not pts:
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for backend in ("memory", "sqlite"):
        mine = [r for r in pts if r["backend"] == backend]
        n_fixed = max(r["live"] for r in mine)
        vs_e = sorted((r["expired"], r["cleanup_ms"]) for r in mine if r["live"] == n_fixed)
        a.plot([p[0] for p in vs_e], [p[1] for p in vs_e], marker="o", label=backend)
        rest = [r for r in mine if r["live"] != n_fixed]
        e_fixed = rest[0]["expired"] if rest else None
        vs_n = sorted((r["live"], r["cleanup_ms"]) for r in mine if r["expired"] == e_fixed)
        b.plot([p[0] for p in vs_n], [p[1] for p in vs_n], marker="o", label=backend)
    for ax, x in ((a, "expired E (N fixed)"), (b, "stored N (E fixed)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel("cleanup() ms")
        ax.legend()
    _save(fig, path)


def plot_all(rows: List[Dict], out: str) -> List[str]:
    made = []
    for name, runners, title in (
        ("node.png", ["node"], "Node"),
        ("python.png", ["python"], "Python asyncio"),
        ("native.png", ["rust", "go"], "Rust core vs Go omnistorage-core"),
    ):
        _bars(rows, runners, title, os.path.join(out, name))
        made.append(name)
    _bars(rows, ["django"], "Django engines", os.path.join(out, "django.png"))
    _scaling(rows, os.path.join(out, "scaling.png"))
    _cleanup(rows, os.path.join(out, "cleanup.png"))
    return made + ["django.png", "scaling.png", "cleanup.png"]


def _save(fig, path: str) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
