"""The tables across a model's grid, answering mode by answering mode: replicates.py's
tables of each (mode, setting) panel, closed book's first and as they are, each other
mode's after them under variants named `<variant>_<mode>` (grid.Mode.variant: full_open),
and the paired tests across modes per seed and pooled.

A table rule's inputs are the grid's answer sets and their base model's, named by their
keys (dag.Plan.table_inputs); its params the same answer sets (grid.AnswerSet), so the
script reads `inputs[answer_set.key]` and nothing here tells inputs apart by their names.
A panel compares one setting's fine-tunes with the base model's answers to the same
questions, in the same mode and from the same book (AnswerSet.base). A question set with a
held-out split (questions.<name>.split) makes two panels of each: its held-out part first,
the headline, then its trained part; every row then says which (`part`), and without a split
no row has the column.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from . import replicates
from .grid import BASE, CLOSED, METHODS, AnswerSet, FineTune, mode_named, mode_variant
from .judging import METRICS, judge_predictions
from .stats import discordant_counts, mcnemar_exact_p, sign_test_pooled
from .tableio import fmt


@dataclass
class Panel:
    """One setting's answers in one mode (and part of its question set's split, None
    without one): the base model's and its fine-tunes' by FineTune."""

    setting: str
    mode: str
    base: list[dict]
    runs: dict[FineTune, list[dict]]
    part: str | None = None


def split_parts(inputs, questions: str | None = None) -> dict[str, set] | None:
    """A question set's parts ({held_out: ids, trained: ids}) from a rule's input
    `split/<questions>` (dag.Plan.splits; questions None: a run's one such input), or None
    when it has no split."""
    from .fileio import read_json

    names = [n for n in inputs.keys() if n == f"split/{questions}" or
             (questions is None and n.startswith("split/"))]
    if not names:
        return None
    return {part: set(ids) for part, ids in read_json(inputs[names[0]])["ids"].items()}


def in_part(records: list[dict], ids: set) -> list[dict]:
    return [r for r in records if r["id"] in ids]


def by_part(predictions: dict[str, list[dict]], parts: dict[str, set] | None):
    """One run's predictions by variant, whole (part None) or per part of its split: the
    (part, predictions) to make a run's tables of, the held-out part first."""
    if parts is None:
        return [(None, predictions)]
    return [(part, {v: in_part(records, ids) for v, records in predictions.items()})
            for part, ids in parts.items()]


def part_rows(table, predictions: dict[str, list[dict]], parts) -> list[dict]:
    """`table(predictions)`'s rows, per part (each row led by its `part`) with a split."""
    return [{**({"part": part} if part else {}), **row}
            for part, chosen in by_part(predictions, parts) for row in table(chosen)]


def read_panels(inputs, answer_sets: list[AnswerSet], read) -> list[Panel]:
    """The panels of a table rule's `inputs` (a Snakemake namedlist) and params' answer sets
    (in their order: mode by mode, in grid order), each file read once with `read`; a
    question set's split (`split_parts`) makes a panel of each part."""
    files: dict[str, list[dict]] = {}

    def of(answers: AnswerSet) -> list[dict]:
        if answers.key not in files:
            files[answers.key] = read(inputs[answers.key])
        return files[answers.key]

    panels: dict[tuple[str, str], Panel] = {}
    for answers in answer_sets:
        where = (answers.mode, answers.run.setting)
        if where not in panels:
            panels[where] = Panel(answers.run.setting, answers.mode, of(answers.base()), {})
        panels[where].runs[answers.run] = of(answers)
    split = {}
    for answers in answer_sets:
        split.setdefault(answers.run.setting, split_parts(inputs, answers.questions))
    return [Panel(p.setting, p.mode, in_part(p.base, ids), {ft: in_part(r, ids) for ft, r in p.runs.items()},
                  part) if split[p.setting] else p
            for p in panels.values()
            for part, ids in (split[p.setting] or {None: None}).items()]


def with_part(columns: list[str], panels: list[Panel], after: str = "setting") -> list[str]:
    """A table's columns, with `part` after `after` where a panel is one part of a split."""
    if not any(p.part for p in panels):
        return list(columns)
    at = columns.index(after) + 1
    return [*columns[:at], "part", *columns[at:]]


def _relabelled(rows: list[dict], columns: tuple[str, ...], mode: str) -> list[dict]:
    """Rows with the variants in `columns` named as `mode`'s (empty cells kept)."""
    if mode == CLOSED:
        return rows
    return [{**row, **{c: mode_variant(row[c], mode) for c in columns if row[c] != ""}}
            for row in rows]


def _parted(rows: list[dict], part: str | None) -> list[dict]:
    return [{**row, "part": part} for row in rows] if part else rows


def _rows(table, panels: list[Panel], columns: tuple[str, ...], **judge) -> list[dict]:
    return [row for p in panels
            for row in _parted(_relabelled(table(p.base, p.runs, **judge), columns, p.mode), p.part)]


def accuracy_rows(panels: list[Panel]) -> list[dict]:
    """accuracy.csv: replicates.accuracy_rows of every panel (open book's `base_open`,
    `full_open`, `lora_open`, `union_open` after closed book's rows)."""
    return _rows(replicates.accuracy_rows, panels, ("variant",))


def seed_rows(panels: list[Panel], **judge) -> list[dict]:
    """seeds.csv: replicates.seed_rows of every panel (aggregate.csv and the run summary are
    built from these rows, so they hold every mode)."""
    return _rows(replicates.seed_rows, panels, ("variant",), **judge)


def cross_mode_pairs(mode: str) -> tuple[tuple[str, str], ...]:
    """The comparisons of a mode with closed book: each model with and without it, and the
    base model in it (retrieval alone) against each fine-tune closed book."""
    other = mode_named(mode)
    return (*((v, other.variant(v)) for v in (BASE, *METHODS)),
            *((other.variant(BASE), m) for m in METHODS))


def significance_rows(panels: list[Panel], **judge) -> list[dict]:
    """significance.csv: replicates.replicate_significance_rows within each mode, then the
    tests across modes (cross_mode_rows)."""
    closed = {(p.setting, p.part): p for p in panels if p.mode == CLOSED}
    rows = _rows(replicates.replicate_significance_rows, panels, ("a", "b"), **judge)
    return rows + [row for p in panels if p.mode != CLOSED
                   for row in _parted(cross_mode_rows(closed[p.setting, p.part], p, **judge), p.part)]


def cross_mode_rows(closed: Panel, other: Panel, **judge) -> list[dict]:
    """One setting's pairs of cross_mode_pairs (closed book against `other`'s mode), per
    metric: an exact McNemar test in each seed and a sign test pooled over seeds (seed
    `all`), as replicates.replicate_significance_rows does within a mode."""
    fine_tunes = list(closed.runs)
    seeds = list(dict.fromkeys(ft.seed for ft in fine_tunes))
    named = {BASE: closed.base, mode_variant(BASE, other.mode): other.base}
    for ft in fine_tunes:
        named[f"{ft.method}@{ft.seed}"] = closed.runs[ft]
        named[f"{mode_variant(ft.method, other.mode)}@{ft.seed}"] = other.runs[ft]
    verdicts = judge_predictions(named, **judge)["verdicts"]

    def of(metric: str, variant: str, seed: int) -> list[bool]:
        by_name = verdicts[metric]
        return by_name[variant] if variant in by_name else by_name[f"{variant}@{seed}"]

    def row(seed, metric, a, b, test, only_a, only_b, p):
        return {"setting": closed.setting, "seed": seed, "metric": metric, "a": a, "b": b,
                "test": test, "statistic": min(only_a, only_b), "p_value": fmt(p),
                "a_only": only_a, "b_only": only_b}

    rows = []
    for metric in METRICS:
        for a, b in cross_mode_pairs(other.mode):
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


def stability_columns(panels: list[Panel]) -> list[str]:
    closed = [p for p in panels if p.mode == CLOSED]
    methods = replicates.methods_of({ft: r for p in closed for ft, r in p.runs.items()})
    columns = with_part(replicates.stability_columns(methods), panels)
    for mode in dict.fromkeys(p.mode for p in panels if p.mode != CLOSED):
        columns += [mode_variant(BASE, mode), *(f"{mode_variant(m, mode)}_right" for m in methods)]
    return columns


def stability_rows(panels: list[Panel]) -> list[dict]:
    """stability.csv: replicates.stability_rows of closed book, each question's row with
    every other mode's columns beside closed book's (`base_open`, `<method>_open_right`)."""
    rows = _rows(replicates.stability_rows, [p for p in panels if p.mode == CLOSED], ())
    for mode in dict.fromkeys(p.mode for p in panels if p.mode != CLOSED):
        other = _rows(replicates.stability_rows, [p for p in panels if p.mode == mode], ())
        for row, theirs in zip(rows, other, strict=True):
            if (row["setting"], row.get("part"), row["id"]) != (theirs["setting"], theirs.get("part"),
                                                                theirs["id"]):
                raise ValueError(f"{mode} question {theirs['id']!r} of setting {theirs['setting']} "
                                 f"stands where closed book's {row['id']!r} does")
            row[mode_variant(BASE, mode)] = theirs[BASE]
            row.update({f"{mode_variant(key[:-len('_right')], mode)}_right": value
                        for key, value in theirs.items() if key.endswith("_right")})
    return rows


def venn_sets(panels: list[Panel]) -> dict[str, dict]:
    """venn_sets.json (and venn_<mode>_sets.json): per setting, replicates.venn_sets of its
    base model's and fine-tunes' answers in the panels' mode; per setting and part of its
    split ("paper, held_out") where it has one."""
    out = {}
    for p in panels:
        for setting, sets in replicates.venn_sets(p.base, p.runs).items():
            out[f"{setting}, {p.part}" if p.part else setting] = sets
    return out
