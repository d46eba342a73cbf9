"""Are two finished runs of the workflow the same, byte for byte, timings aside?

How a reviewer checks that a change left the results alone: run the same config from scratch
in a checkout before the change and in one after it (same machine, same seeds), then

    .venv/bin/python benchmarks/same_outputs.py BEFORE_PROJECT AFTER_PROJECT

compares every file under `results/` and `checkpoints/` of the two and prints a line per
file: `same`, `differs` or `only in before/after`. Files that hold wall-clock times
(TIMINGS: the `.timing.json` files, `timing.csv`, `train_summary.json`, and a fine-tune's
model card, README.md, which states its training seconds) are expected to differ and are
marked so. A LoRA adapter's `adapter_config.json` is compared as what it says, not as bytes
(`same (as json)`): peft writes its target modules from a set, whose order changes from one
process to the next, and names the base model by the run's own absolute folder. Exit status
0 when every other file is present in both and equal.

`--old-layout` compares a run made before the layout of 2026-12-07 (CHANGELOG, "one rule
per stage"), whose answer and probe files lay elsewhere, with one made after: each old path
is mapped to where the new layout puts the same file (`moved`), the question set of the old
default folders named by `--questions` (data.questions then: bibleqa).
"""

from __future__ import annotations

import argparse
import filecmp
import fnmatch
import re
import sys
from collections import Counter
from pathlib import Path

FOLDERS = ("results", "checkpoints")
# Files whose bytes hold wall-clock times, so that they differ between any two runs.
TIMINGS = ("*.timing.json", "*/timing.csv", "*/train_summary.json", "checkpoints/*/README.md")


def _adapter_config(path: Path, project: Path) -> dict:
    """A peft adapter_config.json as what it says: target modules as a set, the base model's
    folder relative to its project."""
    import json

    config = json.loads(path.read_text())
    config["target_modules"] = sorted(config.get("target_modules") or [])
    base = str(config.get("base_model_name_or_path", ""))
    config["base_model_name_or_path"] = base.replace(str(project.resolve()), "<project>")
    return config


def files_under(project: Path) -> set[str]:
    """The project's output files, as paths relative to it."""
    return {str(path.relative_to(project)) for folder in FOLDERS
            for path in (project / folder).rglob("*") if path.is_file()}


# The layout before 2026-12-07: answers in <run>/[open/<book>/]<kind>/, the base model's to
# another question set in base/questions/<set>/[open/<book>/]<kind>/, a fine-tune's probes in
# <run>/probes/<method>.jsonl; each with where the layout of today puts it ({q}: the old
# data.questions, `*`: a fine-tune's question set or corpus, the one folder there).
_ANSWERS = r"((?:generations|predictions)/.+)"
_OLD = [(rf"results/([^/]+)/base/questions/([^/]+)/open/([^/]+)/{_ANSWERS}", r"results/\1/base/\2/open-\3/\4"),
        (rf"results/([^/]+)/base/questions/([^/]+)/{_ANSWERS}", r"results/\1/base/\2/closed/\3"),
        (rf"results/([^/]+)/base/open/([^/]+)/{_ANSWERS}", r"results/\1/base/{q}/open-\2/\3"),
        (rf"results/([^/]+)/base/{_ANSWERS}", r"results/\1/base/{q}/closed/\2"),
        (rf"results/([^/]+)/([^/]+/seed\d+)/open/([^/]+)/{_ANSWERS}", r"results/\1/\2/*/open-\3/\4"),
        (rf"results/([^/]+)/([^/]+/seed\d+)/{_ANSWERS}", r"results/\1/\2/*/closed/\3"),
        (r"results/([^/]+)/([^/]+/seed\d+)/probes/((?:full|lora)\..+)", r"results/\1/\2/probes/*/\3")]


def moved(path: str, after: Path, questions: str) -> str:
    """Where the new layout puts the old layout's file `path` (`after`: the new run, whose
    folders say a fine-tune's question set or corpus); other paths are as they were."""
    for pattern, new in _OLD:
        if match := re.fullmatch(pattern, path):
            target = match.expand(new.replace("{q}", questions))
            found = sorted(str(p.relative_to(after)) for p in after.glob(target)) if "*" in target else []
            return found[0] if len(found) == 1 else target
    return path


def compare(before: Path, after: Path, expected: tuple[str, ...] = TIMINGS,
            questions: str | None = None) -> list[tuple[str, str]]:
    """(path, verdict) for every output file of either project, sorted by path (an old-layout
    `before`'s paths mapped by `moved` when `questions` names its default question set); a
    verdict is `same`, `differs`, `differs (timings)`, `only in before` or `only in after`."""
    old = {moved(path, after, questions) if questions else path: path for path in files_under(before)}
    in_before, in_after = set(old), files_under(after)
    verdicts = []
    for path in sorted(in_before | in_after):
        if path not in in_after:
            verdict = "only in before"
        elif path not in in_before:
            verdict = "only in after"
        elif filecmp.cmp(before / old[path], after / path, shallow=False):
            verdict = "same"
        elif path.endswith("/adapter_config.json") and (
                _adapter_config(before / old[path], before) == _adapter_config(after / path, after)):
            verdict = "same (as json)"
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
    parser.add_argument("--old-layout", action="store_true",
                        help="BEFORE was run before the layout of 2026-12-07: map its paths")
    parser.add_argument("--questions", default="bibleqa",
                        help="with --old-layout: the question set of BEFORE's data.questions")
    args = parser.parse_args(argv)
    for project in (args.before, args.after):
        if not any((project / folder).is_dir() for folder in FOLDERS):
            parser.error(f"{project}: no results/ or checkpoints/ folder: not a finished run")
    verdicts = compare(args.before, args.after, questions=args.questions if args.old_layout else None)
    for path, verdict in verdicts:
        print(f"{verdict:18} {path}")
    counts = Counter(verdict for _, verdict in verdicts)
    print(", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items())))
    return 0 if set(counts) <= {"same", "same (as json)", "differs (timings)"} else 1


if __name__ == "__main__":
    sys.exit(main())
