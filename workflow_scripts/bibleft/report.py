"""Tables and figures: accuracy, the Venn diagram of correct answers, loss curves, timing."""

from __future__ import annotations

import csv
import io

VARIANTS = ("base", "full", "lora")
VARIANT_LABELS = {"base": "Base model", "full": "Full fine-tune", "lora": "LoRA fine-tune",
                  "union": "Mixture of models (any correct)"}


def correct_ids(predictions: list[dict]) -> set:
    return {p["id"] for p in predictions if p["correct"]}


def check_same_questions(predictions: dict[str, list[dict]]) -> list:
    """The three prediction files must answer the same questions, in the same order."""
    reference_name, reference = next(iter(predictions.items()))
    ids = [p["id"] for p in reference]
    for name, preds in predictions.items():
        if [p["id"] for p in preds] != ids:
            raise ValueError(f"predictions of {name} and {reference_name} cover different questions")
    return ids


def accuracy_rows(predictions: dict[str, list[dict]]) -> list[dict]:
    """Rows `variant, correct, total, accuracy_pct, mean_new_tokens, stopped_early`, plus
    `union` (right in any variant). The last two say how long the answers are: their mean
    length in tokens, and how many ended with an end-of-text token before the limit."""
    ids = check_same_questions(predictions)
    total = len(ids)
    rows = []
    union: set = set()
    for variant, preds in predictions.items():
        right = correct_ids(preds)
        union |= right
        rows.append({"variant": variant, "correct": len(right), "total": total,
                     "accuracy_pct": round(100 * len(right) / total, 3) if total else 0.0,
                     "mean_new_tokens": round(sum(p["new_tokens"] for p in preds) / total, 2) if total else 0.0,
                     "stopped_early": sum(bool(p["stopped"]) for p in preds)})
    rows.append({"variant": "union", "correct": len(union), "total": total,
                 "accuracy_pct": round(100 * len(union) / total, 3) if total else 0.0,
                 "mean_new_tokens": "", "stopped_early": ""})
    return rows


def rows_to_csv(rows: list[dict], columns: list[str] | None = None) -> str:
    """CSV text; with `columns` it has a header even when there are no rows (an audit with
    no hits), else the columns are the first row's keys."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns or list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def accuracy_markdown(rows: list[dict], model: str) -> str:
    """The study's results table, for this run."""
    lines = [f"# Accuracy on BibleQA: {model}", "",
             "Lenient rule: correct when the short answer occurs anywhere in the response.", "",
             "| Model | Correct | Total | Accuracy |", "|---|---:|---:|---:|"]
    for row in rows:
        label = VARIANT_LABELS.get(row["variant"], row["variant"])
        lines.append(f"| {label} | {row['correct']} | {row['total']} | {row['accuracy_pct']:.3g}% |")
    lines += ["", "Study (GPT-2 Large, Gronberg 2024): base 2.37% (21/886), full 0.902% (8), "
              "LoRA 1.02% (9), mixture 3.50% (31).", ""]
    return "\n".join(lines)


def venn_regions(sets: dict[str, set]) -> dict[str, int]:
    """Sizes of the seven regions of a three-set Venn diagram, keyed like matplotlib-venn
    ('100' = only the first set, '111' = all three)."""
    a, b, c = (sets[v] for v in sets)
    universe = a | b | c
    regions = {}
    for key in ("100", "010", "110", "001", "101", "011", "111"):
        inside = [s for s, bit in zip((a, b, c), key) if bit == "1"]
        outside = [s for s, bit in zip((a, b, c), key) if bit == "0"]
        members = set.intersection(*inside) if inside else set(universe)
        for s in outside:
            members = members - s
        regions[key] = len(members)
    return regions


def plot_venn(sets: dict[str, set], title: str, png_path, svg_path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib_venn import venn3
    from matplotlib_venn.layout.venn3 import DefaultLayoutAlgorithm

    # Unweighted: region areas would be unreadable for counts as small as the study's
    # (21, 8, 9), and an area-proportional layout cannot draw empty sets at all.
    regions = venn_regions(sets)
    fig, ax = plt.subplots(figsize=(6, 5))
    labels = [f"{VARIANT_LABELS.get(v, v)}\n({len(s)} correct)" for v, s in sets.items()]
    venn3(subsets=tuple(regions[k] for k in ("100", "010", "110", "001", "101", "011", "111")),
          set_labels=labels, ax=ax,
          layout_algorithm=DefaultLayoutAlgorithm(fixed_subset_sizes=(1,) * 7))
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(png_path, dpi=150, format="png")
    fig.savefig(svg_path, format="svg")
    plt.close(fig)


def plot_loss(logs: dict[str, list[dict]], steps_per_epoch: dict[str, int], title: str, path) -> None:
    """One panel per fine-tune: loss per step (raw and smoothed), epoch boundaries dashed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(logs), figsize=(6 * len(logs), 4), squeeze=False)
    for ax, (method, records) in zip(axes[0], logs.items()):
        steps = [r["step"] for r in records]
        losses = [r["loss"] for r in records]
        # Per-step loss is noisy at batch 8: draw it faintly under a running mean.
        window = min(len(losses), max(5, len(losses) // 50)) if losses else 1
        smooth = [sum(losses[max(0, i - window + 1):i + 1]) / len(losses[max(0, i - window + 1):i + 1])
                  for i in range(len(losses))]
        ax.plot(steps, losses, lw=0.8, alpha=0.35, label="loss per step")
        ax.plot(steps, smooth, lw=1.8, label=f"running mean of {window} steps")
        per_epoch = steps_per_epoch.get(method)
        if per_epoch and steps:
            for boundary in range(per_epoch, steps[-1] + 1, per_epoch):
                ax.axvline(boundary, color="grey", ls="--", lw=0.8)
        ax.set_title(f"{VARIANT_LABELS.get(method, method)}")
        ax.set_xlabel("step (dashed: epoch boundary)")
        ax.set_ylabel("training loss")
        ax.legend(loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=150, format="png")
    plt.close(fig)


def timing_rows(train_summaries: dict[str, dict], generation_timings: dict[str, dict]) -> list[dict]:
    """Rows `method, total_seconds, seconds_per_epoch, inference_seconds_per_answer`.

    `total_seconds` is training time (empty for the base model, which is not trained).
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
