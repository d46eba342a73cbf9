"""Are two finished runs of the workflow the same, byte for byte, timings aside?

How a reviewer checks that a change left the results alone: run the same config from scratch
in a checkout before the change and in one after it (same machine, same seeds), then

    .venv/bin/python benchmarks/same_outputs.py BEFORE_PROJECT AFTER_PROJECT

compares every file under `results/` and `checkpoints/` of the two and prints a line per
file: `same`, `differs` or `only in before/after`. Files that hold wall-clock times
(TIMINGS: the `.timing.json` files, `timing.csv`, `train_summary.json`) are expected to
differ and are marked so. Exit status 0 when every other file is present in both and equal.
"""

from __future__ import annotations

import argparse
import filecmp
import fnmatch
import sys
from collections import Counter
from pathlib import Path

FOLDERS = ("results", "checkpoints")
# Files whose bytes hold wall-clock times, so that they differ between any two runs.
TIMINGS = ("*.timing.json", "*/timing.csv", "*/train_summary.json")


def files_under(project: Path) -> set[str]:
    """The project's output files, as paths relative to it."""
    return {str(path.relative_to(project)) for folder in FOLDERS
            for path in (project / folder).rglob("*") if path.is_file()}


def compare(before: Path, after: Path, expected: tuple[str, ...] = TIMINGS) -> list[tuple[str, str]]:
    """(path, verdict) for every output file of either project, sorted by path; a verdict is
    `same`, `differs`, `differs (timings)`, `only in before` or `only in after`."""
    in_before, in_after = files_under(before), files_under(after)
    verdicts = []
    for path in sorted(in_before | in_after):
        if path not in in_after:
            verdict = "only in before"
        elif path not in in_before:
            verdict = "only in after"
        elif filecmp.cmp(before / path, after / path, shallow=False):
            verdict = "same"
        elif any(fnmatch.fnmatch(path, pattern) for pattern in expected):
            verdict = "differs (timings)"
        else:
            verdict = "differs"
        verdicts.append((path, verdict))
    return verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="the project folder of the run before the change")
    parser.add_argument("after", type=Path, help="the project folder of the run after it")
    args = parser.parse_args(argv)
    for project in (args.before, args.after):
        if not any((project / folder).is_dir() for folder in FOLDERS):
            parser.error(f"{project}: no results/ or checkpoints/ folder: not a finished run")
    verdicts = compare(args.before, args.after)
    for path, verdict in verdicts:
        print(f"{verdict:18} {path}")
    counts = Counter(verdict for _, verdict in verdicts)
    print(", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items())))
    return 0 if set(counts) <= {"same", "differs (timings)"} else 1


if __name__ == "__main__":
    sys.exit(main())
