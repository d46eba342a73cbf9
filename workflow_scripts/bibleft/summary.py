"""summary.csv: every run model's aggregate.csv side by side, with the model's size (the
data of figures.plot_summary)."""

from __future__ import annotations

import math

from .errors import InputError
from .replicates import AGGREGATE_COLUMNS

SUMMARY_COLUMNS = ["model", "params_millions", *AGGREGATE_COLUMNS]


def summary_rows(aggregates: dict[str, list[dict]],
                 params_millions: dict[str, float]) -> list[dict]:
    """summary.csv (SUMMARY_COLUMNS): every model's aggregate.csv rows
    (replicates.read_aggregate_csv), in the order of `aggregates`, after the model and its
    size in millions of parameters (the x axis of figures.plot_summary)."""
    rows = []
    for model, aggregate in aggregates.items():
        size = params_millions.get(model)
        if (not isinstance(size, (int, float)) or isinstance(size, bool)
                or not math.isfinite(size) or size <= 0):
            raise InputError(f"model {model}: parameter count {size!r} is not a positive "
                             "number of millions")
        rows += [{"model": model, "params_millions": size, **row} for row in aggregate]
    return rows
