"""Reports computed from run directories only: tables, plots and HTML."""

from vla_bench.report.table import render_success_table

__all__ = ["render_success_table"]
