"""The figures: the Venn diagram of correct answers, loss curves, accuracy with its
intervals per metric, per variant and per model, and the knowledge probes."""

from __future__ import annotations

from .judging import UNION
from .tables import VARIANT_LABELS, venn_regions


def _pyplot():
    """pyplot on the Agg backend: jobs only write files, often on nodes without a display,
    and the backend must be chosen before pyplot is first imported."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, **path_by_format) -> None:
    """Write the figure once per format (`png=path`, `svg=path`), then free it.

    The format is named, not taken from the suffix: the paths are atomic_path's temporary
    files.
    """
    fig.tight_layout()
    for file_format, path in path_by_format.items():
        fig.savefig(path, dpi=150, format=file_format)
    _pyplot().close(fig)


def plot_venn(sets: dict[str, set], title: str, png_path, svg_path) -> None:
    from matplotlib_venn import venn3
    from matplotlib_venn.layout.venn3 import DefaultLayoutAlgorithm

    # Unweighted: region areas would be unreadable for counts as small as the study's
    # (21, 8, 9), and an area-proportional layout cannot draw empty sets at all.
    regions = venn_regions(sets)
    fig, ax = _pyplot().subplots(figsize=(6, 5))
    labels = [f"{VARIANT_LABELS.get(v, v)}\n({len(s)} correct)" for v, s in sets.items()]
    venn3(subsets=tuple(regions[k] for k in ("100", "010", "110", "001", "101", "011", "111")),
          set_labels=labels, ax=ax,
          layout_algorithm=DefaultLayoutAlgorithm(fixed_subset_sizes=(1,) * 7))
    ax.set_title(title)
    _save(fig, png=png_path, svg=svg_path)


def plot_loss(logs: dict[str, list[dict]], steps_per_epoch: dict[str, int], title: str, path) -> None:
    """One panel per fine-tune: loss per step (raw and smoothed), epoch boundaries dashed."""
    fig, axes = _pyplot().subplots(1, len(logs), figsize=(6 * len(logs), 4), squeeze=False)
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
    _save(fig, png=path)


def _bars(ax, rows: list[dict], groups: list[str], group_key: str, series: list[str],
          series_key: str, value: str = "accuracy_pct",
          interval: tuple[str, str] | None = ("ci_low_pct", "ci_high_pct"),
          ylabel: str = "accuracy (%), 95% Wilson interval") -> None:
    """Bars of `value` per group (x) and series (side by side), with `interval`'s low and
    high columns as error bars. A row with no value (an empty cell) draws no bar."""
    width = 0.8 / len(series)
    lookup = {(r[group_key], r[series_key]): r for r in rows}
    for j, name in enumerate(series):
        xs, ys, lows, highs = [], [], [], []
        for i, group in enumerate(groups):
            row = lookup.get((group, name))
            if row is None or row[value] == "":
                continue
            y = float(row[value])
            xs.append(i + (j - (len(series) - 1) / 2) * width)
            ys.append(y)
            if interval:
                lows.append(y - float(row[interval[0]]))
                highs.append(float(row[interval[1]]) - y)
        ax.bar(xs, ys, width, yerr=[lows, highs] if interval else None, capsize=3,
               label=VARIANT_LABELS.get(name, name), alpha=0.5 if name == UNION else 0.9)
    ax.set_xticks(range(len(groups)), groups, rotation=20, ha="right")
    ax.set_ylabel(ylabel)


def _y_top(rows: list[dict]) -> float:
    # Room for the highest interval: shared axes would otherwise clip other panels' bars.
    return max([float(r["ci_high_pct"]) for r in rows] + [1.0]) * 1.08


def plot_accuracy_bars(rows: list[dict], title: str, path) -> None:
    """Accuracy per metric (groups) and variant (bars), with 95% intervals."""
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    fig, ax = _pyplot().subplots(figsize=(1.8 * len(metrics) + 2, 4.5))
    _bars(ax, rows, metrics, "metric", variants, "variant")
    ax.set_ylim(0, _y_top(rows))
    ax.set_title(title)
    # Outside the axes: inside, the legend hides the tops of the error bars.
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _save(fig, png=path)


def plot_summary(rows: list[dict], path) -> None:
    """One panel per metric: accuracy by model (groups) and variant (bars), with intervals."""
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    # One y scale for every panel, so that metrics compare by eye.
    fig, axes = _pyplot().subplots(1, len(metrics),
                                   figsize=(max(3.0, 1.0 * len(models) + 1.5) * len(metrics) + 2, 4.5),
                                   squeeze=False, sharey=True)
    for ax, metric in zip(axes[0], metrics):
        _bars(ax, [r for r in rows if r["metric"] == metric], models, "model", variants, "variant")
        ax.set_title(metric)
        if ax is not axes[0][0]:
            ax.set_ylabel("")
    axes[0][0].set_ylim(0, _y_top(rows))
    axes[0][-1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle("Accuracy on BibleQA by model, variant and metric")
    _save(fig, png=path)


# Per panel: the probe it shows, the column drawn, its title, the axis label.
_PROBE_PANELS = (
    ("nll", "mean_nll", "likelihood of the verses, per text/split", "mean NLL per token (nats; lower: likelier)"),
    ("recall", "exact_match", "verbatim recall: exact", "second halves recalled exactly (%)"),
    ("recall", "token_f1", "verbatim recall: token F1", "mean token F1"),
)


def plot_probes(rows: list[dict], title: str, path) -> None:
    """probes.csv as bars: one panel for the NLL per (text, split) group, and, when the
    table has recall rows, one for exact recall and one for its token F1; a bar per
    variant in every group."""
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    grouped = [{**r, "group": f"{r['text']}/{r['split']}"} for r in rows]
    panels = []
    for probe, value, panel_title, ylabel in _PROBE_PANELS:
        panel_rows = [r for r in grouped if r["probe"] == probe]
        if panel_rows:
            groups = list(dict.fromkeys(r["group"] for r in panel_rows))
            panels.append((panel_rows, groups, value, panel_title, ylabel))
    # Panel widths follow their number of groups: NLL has a group per text and split,
    # recall only one per split.
    widths = [max(1.5, len(groups)) for _, groups, *_ in panels]
    fig, axes = _pyplot().subplots(1, len(panels), figsize=(1.5 * sum(widths) + 4, 4.5),
                                   squeeze=False, gridspec_kw={"width_ratios": widths})
    for ax, (panel_rows, groups, value, panel_title, ylabel) in zip(axes[0], panels):
        _bars(ax, panel_rows, groups, "group", variants, "variant", value=value, interval=None,
              ylabel=ylabel)
        ax.set_title(panel_title)
        ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 1.0))  # all-zero bars: no negative axis
    axes[0][-1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title)
    _save(fig, png=path)
