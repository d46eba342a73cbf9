"""Open book across seeds: replicates.py's tables of the open-book answers, appended to the
closed-book rows under variants named `<variant>_open` (grid.mode_variant), and the paired
tests across modes (scores.CROSS_MODE_PAIRS) per seed and pooled.

The open-book answers of a model's grid reach a table's script as inputs named
`open/<setting>/base` (the base model, answering from that setting's book) and
`open/<setting>/seed<seed>/<method>` (a fine-tune: `open/` + FineTune.key). The base model
answers once per book, so each setting's open-book rows are computed from its own base
model's answers; with open book off there are no such inputs and every table is the closed
book's alone.
"""

from __future__ import annotations

from fractions import Fraction

from . import replicates
from .grid import BASE, OPEN, FineTune, mode_variant
from .judging import METRICS, judge_predictions
from .scores import CROSS_MODE_PAIRS
from .stats import discordant_counts, mcnemar_exact_p, sign_test_pooled
from .tableio import fmt

Runs = dict[FineTune, list[dict]]
OpenBook = tuple[dict[str, list[dict]], Runs]  # (base model's answers by setting, fine-tunes')


def open_input(fine_tune: FineTune) -> str:
    """The input name of a fine-tune's open-book file in a table rule."""
    return f"{OPEN}/{fine_tune.key}"


def open_base_input(setting: str) -> str:
    """The input name of the base model's open-book file, from `setting`'s book."""
    return f"{OPEN}/{setting}/{BASE}"


def own_base_input(setting: str) -> str:
    """The input name of the base model's closed-book file for a setting that answers a
    question set other than data.questions."""
    return f"questions/{setting}/{BASE}"


def closed_base_input(setting: str, other_questions: str | None) -> str:
    """The input name of the base model's closed-book file for `setting`: `base`, shared by
    every setting that answers data.questions, or own_base_input for a setting that answers
    another set (`other_questions`)."""
    return own_base_input(setting) if other_questions else BASE


def closed_bases(inputs, fine_tunes: list[FineTune], read) -> dict[str, list[dict]]:
    """The base model's closed-book answers as each setting's tables compare with them
    (read with `read`, each file once): `base`, or the setting's own question set's."""
    settings = list(dict.fromkeys(ft.setting for ft in fine_tunes))
    names = {s: own_base_input(s) if own_base_input(s) in inputs.keys() else BASE
             for s in settings}
    read_once = {name: read(inputs[name]) for name in dict.fromkeys(names.values())}
    return {s: read_once[name] for s, name in names.items()}


Bases = list[dict] | dict[str, list[dict]]  # the base model's answers, or per setting


def _closed(table, base: Bases, runs: Runs, **settings) -> list[dict]:
    """`table(base, runs)`, or per setting with its own base model's answers (closed_bases:
    settings that answer different question sets); per-setting tables, so the rows are
    those of one call wherever the settings share a base."""
    if isinstance(base, dict):
        return _per_setting(table, (base, runs), **settings)
    return table(base, runs, **settings)


def base_of(base: Bases, setting: str) -> list[dict]:
    return base[setting] if isinstance(base, dict) else base


def read_open_book(inputs, fine_tunes: list[FineTune], read) -> OpenBook | None:
    """The open-book files among a table rule's `inputs` (a Snakemake namedlist), read with
    `read`: (base model's by setting, fine-tunes'), or None when the run has no open book."""
    settings = list(dict.fromkeys(ft.setting for ft in fine_tunes))
    if not settings or open_base_input(settings[0]) not in inputs.keys():
        return None
    return ({s: read(inputs[open_base_input(s)]) for s in settings},
            {ft: read(inputs[open_input(ft)]) for ft in fine_tunes})


def _per_setting(table, open_book: OpenBook, **settings) -> list[dict]:
    """`table(base, runs)` of each setting's open-book answers, one setting after another."""
    bases, runs = open_book
    rows = []
    for setting, base in bases.items():
        rows += table(base, {ft: p for ft, p in runs.items() if ft.setting == setting}, **settings)
    return rows


def _relabelled(rows: list[dict], columns: tuple[str, ...]) -> list[dict]:
    """Rows with the variants in `columns` named as open book's (empty cells kept)."""
    return [{**row, **{c: mode_variant(row[c], OPEN) for c in columns if row[c] != ""}}
            for row in rows]


def accuracy_rows(base: Bases, runs: Runs, open_book: OpenBook | None) -> list[dict]:
    """accuracy.csv: replicates.accuracy_rows, then the same of open book (`base_open`,
    `full_open`, `lora_open`, `union_open`)."""
    rows = _closed(replicates.accuracy_rows, base, runs)
    if open_book:
        rows += _relabelled(_per_setting(replicates.accuracy_rows, open_book), ("variant",))
    return rows


def seed_rows(base: Bases, runs: Runs, open_book: OpenBook | None, **judge) -> list[dict]:
    """seeds.csv: replicates.seed_rows, then the same of open book (aggregate.csv and the
    run summary are built from these rows, so they hold both modes)."""
    rows = _closed(replicates.seed_rows, base, runs, **judge)
    if open_book:
        rows += _relabelled(_per_setting(replicates.seed_rows, open_book, **judge), ("variant",))
    return rows


def significance_rows(base: Bases, runs: Runs, open_book: OpenBook | None,
                      **judge) -> list[dict]:
    """significance.csv: replicates.replicate_significance_rows within closed book, then
    within open book, then across modes (cross_mode_rows)."""
    rows = _closed(replicates.replicate_significance_rows, base, runs, **judge)
    if open_book:
        rows += _relabelled(_per_setting(replicates.replicate_significance_rows, open_book,
                                         **judge), ("a", "b"))
        rows += cross_mode_rows(base, runs, open_book, **judge)
    return rows


def cross_mode_rows(base: Bases, runs: Runs, open_book: OpenBook, **judge) -> list[dict]:
    """Per setting, metric and pair of scores.CROSS_MODE_PAIRS (each variant closed against
    open book; the base model open book against each fine-tune closed book), an exact
    McNemar test in each seed and a sign test pooled over seeds (seed `all`), as
    replicates.replicate_significance_rows does within a mode."""
    bases, open_runs = open_book
    rows = []
    for setting, fine_tunes in replicates.fine_tunes_by_setting(runs).items():
        seeds = list(dict.fromkeys(ft.seed for ft in fine_tunes))
        named = {BASE: base_of(base, setting), mode_variant(BASE, OPEN): bases[setting]}
        for ft in fine_tunes:
            named[f"{ft.method}@{ft.seed}"] = runs[ft]
            named[f"{mode_variant(ft.method, OPEN)}@{ft.seed}"] = open_runs[ft]
        verdicts = judge_predictions(named, **judge)["verdicts"]

        def of(metric: str, variant: str, seed: int) -> list[bool]:
            by_name = verdicts[metric]
            return by_name[variant] if variant in by_name else by_name[f"{variant}@{seed}"]

        def row(seed, metric, a, b, test, only_a, only_b, p):
            return {"setting": setting, "seed": seed, "metric": metric, "a": a, "b": b,
                    "test": test, "statistic": min(only_a, only_b),
                    "p_value": fmt(p), "a_only": only_a, "b_only": only_b}

        for metric in METRICS:
            for a, b in CROSS_MODE_PAIRS:
                if not all(v in verdicts[metric] or f"{v}@{seeds[0]}" in verdicts[metric]
                           for v in (a, b)):
                    continue
                for seed in seeds:
                    only_a, only_b = discordant_counts(of(metric, a, seed), of(metric, b, seed))
                    rows.append(row(seed, metric, a, b, "mcnemar_exact", only_a, only_b,
                                    mcnemar_exact_p(only_a, only_b)))
                shares = {v: [Fraction(sum(right), len(seeds)) for right in
                              zip(*(of(metric, v, seed) for seed in seeds))] for v in (a, b)}
                rows.append(row(replicates.POOLED_SEED, metric, a, b, "sign_test_pooled",
                                *sign_test_pooled(shares[a], shares[b])))
    return rows


def stability_columns(runs: Runs, open_book: OpenBook | None) -> list[str]:
    methods = replicates.methods_of(runs)
    columns = replicates.stability_columns(methods)
    if open_book:
        columns += [mode_variant(BASE, OPEN), *(f"{mode_variant(m, OPEN)}_right" for m in methods)]
    return columns


def stability_rows(base: Bases, runs: Runs, open_book: OpenBook | None) -> list[dict]:
    """stability.csv: replicates.stability_rows, each question's row with open book's
    columns beside closed book's (`base_open`, `<method>_open_right`)."""
    rows = _closed(replicates.stability_rows, base, runs)
    if not open_book:
        return rows
    opened = _per_setting(replicates.stability_rows, open_book)
    for row, other in zip(rows, opened, strict=True):
        if (row["setting"], row["id"]) != (other["setting"], other["id"]):
            raise ValueError(f"open-book question {other['id']!r} of setting {other['setting']} "
                             f"stands where closed book's {row['id']!r} does")
        row[mode_variant(BASE, OPEN)] = other[BASE]
        row.update({f"{mode_variant(key[:-len('_right')], OPEN)}_right": value
                    for key, value in other.items() if key.endswith("_right")})
    return rows


def closed_venn_sets(base: Bases, runs: Runs) -> dict[str, dict]:
    """venn_sets of closed book (venn.png): per setting, against its own base model's answers."""
    if not isinstance(base, dict):
        return replicates.venn_sets(base, runs)
    return venn_sets((base, runs))


def venn_sets(open_book: OpenBook) -> dict[str, dict]:
    """venn_sets of open book (venn_open.png): per setting, its base model's and fine-tunes'
    open-book answers."""
    bases, runs = open_book
    out = {}
    for setting, base in bases.items():
        out.update(replicates.venn_sets(base, {ft: p for ft, p in runs.items()
                                               if ft.setting == setting}))
    return out
