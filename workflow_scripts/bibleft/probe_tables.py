"""The tables of the knowledge probes of one (model, setting, seed): probes.csv (how well
each variant knows each text, per probe and split) and probes_significance.csv (paired
tests between the variants, in significance.csv's columns)."""

from __future__ import annotations

import math
from itertools import combinations

from .errors import InputError
from .judging import check_paired_records
from .scores import significance_rows
from .stats import wilcoxon_signed_rank
from .tableio import fmt, pct

PROBE_COLUMNS = ["probe", "text", "split", "variant", "n", "mean_nll", "perplexity",
                 "exact_match", "token_f1"]


def _check_probe_record(record: dict, variant: str, index: int) -> None:
    where = f"probes of {variant}, record {index + 1}"
    for key in ("probe", "text", "split", "reference"):
        if key not in record:
            raise InputError(f"{where}: no '{key}' key (rerun the probes of {variant})")
    if record["probe"] == "nll":
        n_tokens, nll = record.get("n_tokens"), record.get("nll")
        if not isinstance(n_tokens, int) or isinstance(n_tokens, bool) or n_tokens < 0:
            raise InputError(f"{where}: 'n_tokens' is {n_tokens!r}, not a count of tokens")
        if n_tokens and not (isinstance(nll, (int, float)) and math.isfinite(nll)):
            raise InputError(f"{where}: 'nll' is {nll!r}, not a finite number")
    elif record["probe"] == "recall":
        if not isinstance(record.get("exact"), bool):
            raise InputError(f"{where}: 'exact' is {record.get('exact')!r}, not true or false")
        if not isinstance(record.get("token_f1"), (int, float)):
            raise InputError(f"{where}: 'token_f1' is {record.get('token_f1')!r}, not a number")
    else:
        raise InputError(f"{where}: probe {record['probe']!r} is neither 'nll' nor 'recall'")


def _probe_groups(records_by_variant: dict[str, list[dict]]) -> dict[tuple, list[int]]:
    """The (probe, text, split) groups in first-seen order, each with the positions of its
    records, once every variant's records are checked to hold the same examples in the
    same order (the paired tests compare them position by position)."""
    keys = check_paired_records(records_by_variant, _check_probe_record,
                                lambda r: (r["probe"], r["text"], r["split"], r["reference"]),
                                "probes", "examples",
                                "rerun every variant's probes with the same settings")
    groups: dict[tuple, list[int]] = {}
    for position, key in enumerate(keys):
        groups.setdefault(key[:3], []).append(position)
    return groups


def _scored(record: dict) -> bool:
    # A one-token target in an empty context has no token to score: no information, so it
    # stays out of the means and the tests.
    return record["n_tokens"] > 0


def probe_rows(records_by_variant: dict[str, list[dict]]) -> list[dict]:
    """probes.csv: per (probe, text, split) group and variant, how well the variant knows
    the text. nll: `n` scored examples, `mean_nll` per scored token over the whole group
    (token-weighted, so `perplexity` = exp(mean_nll) is the group's perplexity). recall:
    `n` examples, `exact_match` in percent, mean `token_f1`."""
    rows = []
    for (probe, text, split), positions in _probe_groups(records_by_variant).items():
        for variant, records in records_by_variant.items():
            group = [records[i] for i in positions]
            row = {**dict.fromkeys(PROBE_COLUMNS, ""),
                   "probe": probe, "text": text, "split": split, "variant": variant}
            if probe == "nll":
                scored = [r for r in group if _scored(r)]
                tokens = sum(r["n_tokens"] for r in scored)
                row["n"] = len(scored)
                if tokens:
                    mean_nll = sum(r["nll"] for r in scored) / tokens
                    row.update(mean_nll=round(mean_nll, 4), perplexity=round(math.exp(mean_nll), 3))
            else:
                row.update(n=len(group),
                           exact_match=pct(sum(r["exact"] for r in group) / len(group)),
                           token_f1=round(sum(r["token_f1"] for r in group) / len(group), 4))
            rows.append(row)
    return rows


def probe_significance_rows(records_by_variant: dict[str, list[dict]]) -> list[dict]:
    """probes_significance.csv, in significance.csv's columns, per group (metric
    `probe/text/split`). nll: for each pair of variants a Wilcoxon signed-rank test on the
    per-example NLL per token (a continuous paired measure), over the examples scored in
    both; `a_only`/`b_only` count the examples where a's NLL is the lower / b's is.
    recall: the exact-match verdicts tested as significance.csv tests answers (exact
    McNemar per pair, Cochran's Q over all)."""
    rows = []
    for (probe, text, split), positions in _probe_groups(records_by_variant).items():
        metric = f"{probe}/{text}/{split}"
        if probe == "recall":
            exact = {v: [records[i]["exact"] for i in positions]
                     for v, records in records_by_variant.items()}
            rows += significance_rows({"verdicts": {metric: exact}})
            continue
        per_token = {v: [records[i]["nll"] / records[i]["n_tokens"] if _scored(records[i]) else None
                         for i in positions]
                     for v, records in records_by_variant.items()}
        for a, b in combinations(per_token, 2):
            pairs = [(x, y) for x, y in zip(per_token[a], per_token[b])
                     if x is not None and y is not None]
            statistic, p = wilcoxon_signed_rank([x - y for x, y in pairs])
            rows.append({"metric": metric, "a": a, "b": b, "test": "wilcoxon_signed_rank",
                         "statistic": fmt(statistic), "p_value": fmt(p),
                         "a_only": sum(x < y for x, y in pairs),
                         "b_only": sum(y < x for x, y in pairs)})
    return rows
