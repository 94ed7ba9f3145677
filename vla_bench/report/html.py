"""One self-contained HTML report: tables, inline plots, run manifests and failure videos (data URIs)."""

from __future__ import annotations

import base64
import html
import io
import json
import mimetypes
from pathlib import Path
from typing import Any

from vla_bench.report.model import Table
from vla_bench.report.render import rows_of
from vla_bench.types import EpisodeResult

STYLE = """body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 6px;font-size:12px;text-align:center}th{background:#f3f3f3}
.best{font-weight:bold}.ci{color:#666;font-size:10px}pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:11px}"""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _table_html(t: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
    rows = [f"<tr><th>{html.escape(r)}</th>{''.join(tds)}</tr>" for r, tds in rows_of(
        t, lambda v, ci, c: f"<td class=\"{'best' if c.best else ''}\">{v}<br><span class=ci>{ci} n={c.n}</span></td>",
        "<td>-</td>")]
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in t.notes)
    if t.errors:
        notes += "<li>ERROR episodes (excluded): " + html.escape(", ".join(f"{p}: {n}" for p, n in t.errors.items()))
    return (f"<h2>{html.escape(t.title)}</h2><table><tr><th>policy</th>{head}</tr>{''.join(rows)}</table>"
            f"<ul>{notes}</ul>")


def _videos(results: list[EpisodeResult], limit: int = 6) -> str:
    out = []
    for r in results:
        if r.video and not r.success and Path(r.video).is_file() and len(out) < limit:
            mime = mimetypes.guess_type(r.video)[0] or "video/mp4"
            data = base64.b64encode(Path(r.video).read_bytes()).decode()
            out.append(f"<figure><video controls src=\"data:{mime};base64,{data}\" width=256></video>"
                       f"<figcaption>{html.escape(r.policy)} {html.escape(r.spec.key)} {r.status.value}"
                       "</figcaption></figure>")
    return "<h2>Failure videos</h2>" + "".join(out) if out else ""


def render_html(tables: list[Table], results: list[EpisodeResult], manifests: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vla_bench.report import plots

    parts = [f"<!doctype html><html><head><meta charset=utf-8><title>vla_bench report</title>"
             f"<style>{STYLE}</style></head><body><h1>vla_bench report</h1>"]
    for t in tables:
        parts.append(_table_html(t))
        fig, ax = plt.subplots(figsize=(9, 3.5))
        plots.success_bars(t, ax)
        parts.append(f"<img alt=\"success {html.escape(t.title)}\" src=\"{_png(fig)}\">")
    fig, ax = plt.subplots(figsize=(5, 3.5))
    plots.latency_vs_success(results, ax)
    parts.append(f"<h2>Latency vs success</h2><img alt=\"latency vs success\" src=\"{_png(fig)}\">")
    if any(r.spec.perturbation != "none" for r in results):
        for p in sorted({r.policy for r in results}):
            fig, ax = plt.subplots(figsize=(6, 4))
            plots.degradation_heatmap(results, p, ax)
            parts.append(f"<h2>Degradation: {html.escape(p)}</h2><img alt=\"degradation\" src=\"{_png(fig)}\">")
            fig, ax = plt.subplots(figsize=(6, 4))
            plots.robustness_curves(results, p, ax)
            parts.append(f"<img alt=\"robustness {html.escape(p)}\" src=\"{_png(fig)}\">")
    if any(r.subtasks for r in results):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        plots.chain_curve(results, ax=ax)
        parts.append(f"<h2>Chains</h2><img alt=\"chains\" src=\"{_png(fig)}\">")
    parts.append(_videos(results))
    for name, m in sorted(manifests.items()):
        parts.append(f"<h2>Run {html.escape(name)}</h2><pre>{html.escape(json.dumps(m, indent=2, sort_keys=True))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)
