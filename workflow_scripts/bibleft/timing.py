"""timing.csv of one (model, setting, seed): how long each fine-tune trained, and how long
each variant took per answer."""

from __future__ import annotations

TIMING_COLUMNS = ["method", "total_seconds", "seconds_per_epoch", "inference_seconds_per_answer",
                  "device"]


def timing_rows(train_summaries: dict[str, dict], generation_timings: dict[str, dict]) -> list[dict]:
    """timing.csv (TIMING_COLUMNS): a row per variant of `generation_timings` (its timing
    JSON), in their order, `method` naming the variant.

    `total_seconds` and `seconds_per_epoch` are training time, from the fine-tune's
    train_summary.json in `train_summaries` (empty for the base model, which is not
    trained); `device` is the training device's name, else the generation device's.
    """
    rows = []
    for method, timing in generation_timings.items():
        summary = train_summaries.get(method)
        rows.append({
            "method": method,
            "total_seconds": round(summary["seconds_total"], 3) if summary else "",
            "seconds_per_epoch": round(summary["seconds_per_epoch"], 3) if summary else "",
            "inference_seconds_per_answer": round(timing["seconds_per_answer"], 5),
            "device": (summary or timing).get("device_name", ""),
        })
    return rows
