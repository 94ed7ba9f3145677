"""Render tables as Markdown, LaTeX, CSV or JSON; output depends only on the tables (byte-stable)."""

from __future__ import annotations

import csv
import io
import json
from typing import Callable

from vla_bench.report.model import Cell, Table


def _fmt(c: Cell) -> tuple[str, str]:
    """(value, interval) as text; rates in percent, lengths as is."""
    if c.kind == "length":
        return f"{c.value:.2f}", f"[{c.lo:.2f}, {c.hi:.2f}]"
    if c.kind == "delta":  # "or 0.0" turns -0.0 into 0.0
        v, lo, hi = (round(100 * x, 1) or 0.0 for x in (c.value, c.lo, c.hi))
        return f"{v:+.1f}", f"[{lo:+.1f}, {hi:+.1f}]"
    return f"{100 * c.value:.1f}", f"[{100 * c.lo:.1f}, {100 * c.hi:.1f}]"


def rows_of(t: Table, cell: Callable[[str, str, Cell], str], empty: str) -> list[tuple[str, list[str]]]:
    """Each row of ``t`` with its cells formatted by ``cell(value, interval, cell)`` (``empty`` if absent)."""
    out = []
    for r in t.rows:
        texts = []
        for col in t.columns:
            c = t.cells.get((r, col))
            texts.append(empty if c is None else cell(*_fmt(c), c))
        out.append((r, texts))
    return out


def to_markdown(tables: list[Table]) -> str:
    out: list[str] = []
    for t in tables:
        head = "perturbation" if t.title.startswith("Degradation") else "policy"
        out += [f"### {t.title}", "", f"| {head} | " + " | ".join(t.columns) + " |",
                "|---|" + "---|" * len(t.columns)]
        for r, cells in rows_of(t, lambda v, ci, c: f"{f'**{v}**' if c.best else v} {ci} (n={c.n})", "-"):
            out.append(f"| {r} | " + " | ".join(cells) + " |")
        out.append("")
        out += [f"- {n}" for n in t.notes]
        if t.errors:
            out.append("- ERROR episodes (excluded): " + ", ".join(f"{p}: {n}" for p, n in t.errors.items()))
        out.append("")
    return "\n".join(out)


def _tex(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#")):
        s = s.replace(a, b)
    return s


def to_latex(tables: list[Table]) -> str:
    out: list[str] = []
    for t in tables:
        out += [f"% {_tex(t.title)}", r"\begin{tabular}{l" + "c" * len(t.columns) + "}", r"\toprule",
                "Policy & " + " & ".join(_tex(c) for c in t.columns) + r" \\", r"\midrule"]
        def cell(v: str, ci: str, c: Cell) -> str:
            return (rf"\textbf{{{v}}}" if c.best else v) + rf"\,{{\scriptsize {ci}}}"

        for r, cells in rows_of(t, cell, "--"):
            out.append(f"{_tex(r)} & " + " & ".join(cells) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(out)


def to_csv(tables: list[Table]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["table", "policy", "column", "kind", "value", "lo", "hi", "n", "successes", "best"])
    for t in tables:
        for r in t.rows:
            for col in t.columns:
                c = t.cells.get((r, col))
                if c is not None:
                    w.writerow([t.title, r, col, c.kind, f"{c.value:.6f}", f"{c.lo:.6f}", f"{c.hi:.6f}", c.n,
                                "" if c.successes is None else c.successes, int(c.best)])
    return buf.getvalue()


def to_json(tables: list[Table]) -> str:
    data = [{
        "title": t.title, "columns": t.columns, "rows": t.rows, "notes": t.notes, "errors": t.errors,
        "cells": [{"policy": r, "column": col, "kind": c.kind, "value": round(c.value, 6), "lo": round(c.lo, 6),
                   "hi": round(c.hi, 6), "n": c.n, "successes": c.successes, "best": c.best}
                  for r in t.rows for col in t.columns if (c := t.cells.get((r, col))) is not None],
    } for t in tables]
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


FORMATS: dict[str, Callable[[list[Table]], str]] = {
    "md": to_markdown, "latex": to_latex, "csv": to_csv, "json": to_json,
}
