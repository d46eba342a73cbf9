"""The figures: the Venn diagrams of correct answers, loss curves, accuracy with its
intervals per metric and variant, accuracy by model size across seeds, and the knowledge
probes. One module for all of them: they change together when the plotting does (the Agg
backend, one way to save, the bars shared by two figures), and each draws a table that its
own module computes."""

from __future__ import annotations

from .grid import BASE, CLOSED, FineTune, variant_mode
from .judging import UNION
from .tableio import VARIANT_LABELS


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
    plt = _pyplot()
    for file_format, path in path_by_format.items():
        # An SVG holds its date and ids salted at random unless told otherwise: fixed, a
        # rerun writes the same bytes (benchmarks/same_outputs.py compares them).
        fixed = {"metadata": {"Date": None}} if file_format == "svg" else {}
        with plt.rc_context({"svg.hashsalt": "bibleft"}):
            fig.savefig(path, dpi=150, format=file_format, **fixed)
    plt.close(fig)


def _venn(ax, sets: dict[str, list], regions: dict[str, int]) -> None:
    from matplotlib_venn import venn3
    from matplotlib_venn.layout.venn3 import DefaultLayoutAlgorithm

    # Unweighted: region areas would be unreadable for counts as small as the study's
    # (21, 8, 9), and an area-proportional layout cannot draw empty sets at all.
    labels = [f"{VARIANT_LABELS.get(v, v)}\n({len(s)} correct)" for v, s in sets.items()]
    venn3(subsets=tuple(regions[k] for k in ("100", "010", "110", "001", "101", "011", "111")),
          set_labels=labels, ax=ax,
          layout_algorithm=DefaultLayoutAlgorithm(fixed_subset_sizes=(1,) * 7))


def plot_venn_settings(venn: dict[str, dict], title: str, captions: dict[str, str], png_path,
                       svg_path) -> None:
    """One Venn diagram of the three sets of correct answers (base, full, LoRA) per
    setting, side by side: `venn` is replicates.venn_sets (each setting's `sets` and
    `regions`), as venn_sets.json holds it; `captions`, what each setting's panel shows
    (tableio.setting_caption)."""
    n = len(venn)
    fig, axes = _pyplot().subplots(1, n, figsize=(6 * n, 5), squeeze=False)
    for ax, (setting, drawn) in zip(axes[0], venn.items()):
        _venn(ax, drawn["sets"], drawn["regions"])
        if n > 1:
            ax.set_title(f"{setting}: {captions[setting]}", fontsize="medium")
    if n > 1:
        fig.suptitle(title)
    else:
        axes[0][0].set_title(f"{title}\n{captions[next(iter(venn))]}")
    _save(fig, png=png_path, svg=svg_path)


def _running_mean(values: list[float]) -> tuple[list[float], int]:
    """The running mean of the last `window` values, and the window."""
    # Per-step loss is noisy at batch 8: a few dozen steps of mean show the trend.
    window = min(len(values), max(5, len(values) // 50)) if values else 1
    smooth = [sum(values[max(0, i - window + 1):i + 1]) / len(values[max(0, i - window + 1):i + 1])
              for i in range(len(values))]
    return smooth, window


def _loss_panel(ax, runs: list[tuple[str, list[dict], int | None]]) -> None:
    """Loss per step of each (label, records, steps per epoch) run in one panel: raw
    faintly under its running mean, epoch boundaries dashed. One run: no label needed."""
    boundaries = set()
    for label, records, per_epoch in runs:
        steps = [r["step"] for r in records]
        losses = [r["loss"] for r in records]
        smooth, window = _running_mean(losses)
        if len(runs) == 1:
            ax.plot(steps, losses, lw=0.8, alpha=0.35,
                    label="loss per step" + (f" ({label})" if label else ""))
            ax.plot(steps, smooth, lw=1.8, label=f"running mean of {window} steps")
        else:
            # Many runs: the raw curves would hide each other; each keeps its colour, faint.
            line, = ax.plot(steps, smooth, lw=1.6, label=f"{label} (mean of {window} steps)")
            ax.plot(steps, losses, lw=0.6, alpha=0.15, color=line.get_color())
        if per_epoch and steps:
            boundaries.update(range(per_epoch, steps[-1] + 1, per_epoch))
    for boundary in sorted(boundaries):
        ax.axvline(boundary, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("step (dashed: epoch boundary)")
    ax.set_ylabel("training loss")
    ax.legend(loc="upper right", fontsize="small" if len(runs) > 3 else None)


def plot_loss_runs(logs: dict[FineTune, list[dict]], steps_per_epoch: dict[FineTune, int],
                   title: str, path) -> None:
    """Loss curves of every fine-tune: `logs` (train_log.jsonl's records) and
    `steps_per_epoch` keyed by fine-tune. One panel per method, one curve per (setting,
    seed) labelled "setting, seed N" ("seed N" with one setting); with one fine-tune per
    method, its raw loss under its running mean."""
    methods = list(dict.fromkeys(ft.method for ft in logs))
    several_settings = len({ft.setting for ft in logs}) > 1
    fig, axes = _pyplot().subplots(1, len(methods), figsize=(6 * len(methods), 4), squeeze=False)
    for ax, method in zip(axes[0], methods):
        runs = [(f"{ft.setting}, seed {ft.seed}" if several_settings else f"seed {ft.seed}",
                 records, steps_per_epoch.get(ft))
                for ft, records in logs.items() if ft.method == method]
        _loss_panel(ax, runs)
        ax.set_title(f"{VARIANT_LABELS.get(method, method)}")
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
    # Open book's bars in the colour of the same variant closed book, hatched.
    colours = {}
    for name in series:
        colours.setdefault(variant_mode(name)[0], f"C{len(colours)}")
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
        variant, mode = variant_mode(name)
        ax.bar(xs, ys, width, yerr=[lows, highs] if interval else None, capsize=3,
               label=VARIANT_LABELS.get(name, name), color=colours[variant],
               hatch="//" if mode != CLOSED else None, edgecolor="white" if mode != CLOSED else None,
               alpha=0.5 if variant == UNION else 0.9)
    ax.set_xticks(range(len(groups)), groups, rotation=20, ha="right")
    ax.set_ylabel(ylabel)


def _y_top(rows: list[dict]) -> float:
    # Room above the highest interval, and an axis even when every accuracy is 0.
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


SUMMARY_TITLE = "Accuracy on {questions} by model size (lenient rule)"
_SETTING_LINE_STYLES = ("-", "--", ":", "-.")


def plot_summary(rows: list[dict], questions: list[str], path) -> None:
    """summary.csv (summary.summary_rows, or read back as strings) as the paper's
    figure: accuracy pooled over seeds under the study's lenient rule against model size
    (millions of parameters, log axis), a line per variant (and a line style per setting
    when there are several), the pooled Wilson 95% interval as error bars and the spread
    over seeds (min to max) as a thick translucent bar behind each point."""
    from matplotlib.ticker import NullLocator

    rows = [r for r in rows if r["metric"] == "lenient"]
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    settings = list(dict.fromkeys(r["setting"] for r in rows))
    fig, ax = _pyplot().subplots(figsize=(7.5, 4.5))
    # Open book's line in the colour of the same variant closed book, hollow squares.
    colours = {}
    for variant in variants:
        colours.setdefault(variant_mode(variant)[0], f"C{len(colours)}")
    for k, setting in enumerate(settings):
        for j, variant in enumerate(variants):
            # The base model is not trained: every setting repeats its one line.
            if variant == BASE and k > 0:
                continue
            # By size alone: two models of one size must not compare their rows.
            points = sorted(((float(r["params_millions"]), r) for r in rows
                             if r["setting"] == setting and r["variant"] == variant),
                            key=lambda point: point[0])
            if not points:
                continue
            # Variants at one model size would hide each other's bars: nudge them apart
            # by a few percent (a constant step on the log axis).
            nudge = 1.04 ** (j - (len(variants) - 1) / 2)
            xs = [x * nudge for x, _ in points]
            ys = [float(r["pooled_pct"]) for _, r in points]
            low = [y - float(r["ci_low_pct"]) for y, (_, r) in zip(ys, points)]
            high = [float(r["ci_high_pct"]) - y for y, (_, r) in zip(ys, points)]
            label = VARIANT_LABELS.get(variant, variant)
            if len(settings) > 1 and variant != BASE:
                label += f", {setting}"
            ax.vlines(xs, [float(r["min_pct"]) for _, r in points],
                      [float(r["max_pct"]) for _, r in points],
                      colors=colours[variant_mode(variant)[0]], lw=7, alpha=0.25)
            closed = variant_mode(variant)[1] == CLOSED
            ax.errorbar(xs, ys, yerr=[low, high], color=colours[variant_mode(variant)[0]],
                        capsize=3, marker="o" if closed else "s", ms=4 if closed else 5,
                        mfc=None if closed else "white",
                        ls=_SETTING_LINE_STYLES[k % len(_SETTING_LINE_STYLES)], label=label)
    sizes = sorted({float(r["params_millions"]) for r in rows})
    ax.set_xscale("log")
    # The models' own sizes as ticks: a log axis's powers of ten would fall between them.
    ax.set_xticks(sizes, [f"{size:g}M" for size in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("parameters (millions, log scale)")
    ax.set_ylabel("accuracy (%): pooled over seeds,\n95% Wilson interval; bar: seed min-max")
    ax.set_ylim(bottom=0)
    ax.set_title(SUMMARY_TITLE.format(questions=", ".join(questions)))
    # Outside the axes: inside, the legend hides the points of the smallest models.
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
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
