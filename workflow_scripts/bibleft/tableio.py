"""What every table shares: CSV text written and read back (checked for its columns), and
the numbers and names as the tables print them."""

from __future__ import annotations

import csv
import io

from .errors import InputError
from .grid import BASE, CLOSED, MODES
from .judging import UNION

# The variants as a reader sees them: accuracy.md and the figures' legends and titles; in
# another mode than closed book, the label with the mode's ("Base model + retrieval").
_CLOSED_LABELS = {BASE: "Base model", "full": "Full fine-tune", "lora": "LoRA fine-tune",
                  UNION: "Mixture of models (any correct)"}
VARIANT_LABELS = {**_CLOSED_LABELS, **{
    mode.variant(variant): (f"Mixture, {mode.words} (any correct)" if variant == UNION
                            else label + mode.label)
    for mode in MODES if mode.name != CLOSED for variant, label in _CLOSED_LABELS.items()}}


def setting_caption(words: dict) -> str:
    """What a setting's tables and figures show, named: "bibleqa, fine-tuned on asv"
    (`words`: dag.Plan.setting_words, a setting's corpus and question set)."""
    return f"{words['questions']}, fine-tuned on {words['corpus']}"


def rows_to_csv(rows: list[dict], columns: list[str] | None = None) -> str:
    """CSV text; with `columns` it has a header even when there are no rows (an audit with
    no hits), else the columns are the first row's keys."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns or list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def read_checked_csv(path, columns: list[str], rebuild: str) -> list[dict]:
    """Rows of a CSV file (as text), checked for `columns`: an error names the file, the
    missing columns and `rebuild`, how to make the file again."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)} ({rebuild})")
        return list(reader)


def pct(fraction: float) -> float:
    """A proportion in percent, 3 decimals: how scores.csv, seeds.csv, aggregate.csv and
    probes.csv print it (accuracy.csv rounds 100 * correct / total: replicates.accuracy_row)."""
    return round(100 * fraction, 3)


def fmt(x: float) -> str:
    """A statistic or p-value: enough digits for p-values near 1e-6 without pretending to
    more precision."""
    return f"{x:.6g}"
