"""The documentation points at what exists, and the files a published workflow carries are
well formed.

Every relative Markdown link in README.md and docs/*.md resolves (with its #anchor, when it
has one), and every file path named in backticks, or in a command of a code block, that
starts in one of the repository's own folders exists. What the workflow writes (results/,
checkpoints/, data/, ...) and names with <placeholders> are left out: they exist only
after a run.
"""

from __future__ import annotations

import functools
import glob
import importlib.util
import os
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Written by the workflow or by a tool it runs: they exist only after a run.
OUTPUTS = ("results/", "checkpoints/", "data/", "logs/", "models/", "resume/", "trackers/",
           ".snakemake/", ".venv/", ".venv-lmeval/", "report.html")
# Named without a folder, but not files of this repository: (name, why).
NOT_OURS = {
    "asv.txt": "openbible.com's file, the study's source",
    "hparams.yml": "TensorBoard's file in a run's folder",
    "my_tasks/bibleqa_local.yaml": "an example of the user's own file",
}
# File names without a folder that are outputs or another program's files, by extension.
OUTPUT_SUFFIXES = (".csv", ".json", ".jsonl", ".png", ".svg", ".tsv", ".log", ".html", ".pt")
REPO_SUFFIXES = (".md", ".py", ".smk", ".yaml", ".yml", ".txt", ".ini", ".toml", ".cff", ".rst", ".sh")

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
CODE = re.compile(r"`([^`\n]+)`")


def _top_level() -> set[str]:
    return {p.name for p in ROOT.iterdir() if p.name != ".git"}


@functools.lru_cache(maxsize=1)
def _file_names() -> frozenset[str]:
    """The names of the repository's files, outside .git, the environments and outputs."""
    names = set()
    skip = {".git", *(o.strip("/") for o in OUTPUTS)}
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not (Path(folder) == ROOT and d in skip) and d != "__pycache__"]
        names.update(files)
    return frozenset(names)


def _installed_package(name: str) -> Path | None:
    """The folder of installed Python package `name`, if there is one."""
    if not name.isidentifier():
        return None
    spec = importlib.util.find_spec(name)
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def github_anchor(heading: str) -> str:
    """The #fragment GitHub gives a heading: lower case, punctuation but - and _ dropped,
    spaces as hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {github_anchor(m[1]) for m in re.finditer(r"^#+\s+(.+?)\s*#*$", text, re.M)}


def broken_links(path: Path, text: str | None = None) -> list[str]:
    """The relative links of Markdown file `path` (or of `text`, as if it were that file)
    whose file or anchor is missing."""
    text = FENCE.sub("", path.read_text(encoding="utf-8") if text is None else text)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(f"{target}: no {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.name}")
    return broken


def named_paths(text: str) -> list[str]:
    """The paths a Markdown text names: in inline code, and as the words of its code
    blocks' commands that start in a folder of the repository."""
    top = _top_level()
    names = [m for m in CODE.findall(FENCE.sub("", text)) if " " not in m.strip()]
    for block in FENCE.findall(text):
        for word in re.split(r"[\s=,'\"()]+", block):
            if "/" in word and word.split("/", 1)[0] in top:
                names.append(word)
    return [n.strip() for n in names]


def is_repo_path(name: str) -> bool:
    """Whether `name` is meant as a path in this repository (not an output, a placeholder,
    a URL, an absolute path or a word such as train/loss)."""
    if (not name or "://" in name or name in REPO_SUFFIXES + OUTPUT_SUFFIXES  # `.md`: a suffix or name.startswith(("/", "~", "$", "-", "..."))
            or re.search(r"[<>{}]|\.\.\.", name) or name.startswith(OUTPUTS) or name in NOT_OURS):
        return False
    file = name.split("::", 1)[0]  # a pytest node id names its file
    first = file.split("/", 1)[0]
    if "/" in file:
        # Another first folder: a file of ours if it has our suffixes (a typo in a folder's
        # name), else a word such as train/loss or a file in a run's folder.
        return (first in _top_level() or file.endswith(REPO_SUFFIXES)
                or (Path(file).suffix != "" and _installed_package(first) is not None))
    return file.endswith(REPO_SUFFIXES)


def missing(name: str, doc: Path) -> str | None:
    """Why `name` (a repo path named in `doc`) does not exist, or None."""
    file, _, test = name.partition("::")
    if any(ch in file for ch in "*?["):
        return None if glob.glob(str(ROOT / file)) else "matches no file"
    if "/" not in file:
        return None if file in _file_names() else "no file of that name in the repository"
    first = file.split("/", 1)[0]
    for base in (ROOT, doc.parent):
        if (base / file).exists():
            if test and not re.search(rf"^def {re.escape(test)}\b", (base / file).read_text(), re.M):
                return f"no test {test} in {file}"
            return None
    if first not in _top_level():
        package = _installed_package(first)  # the terms a model package ships, say
        if package is not None:
            return None if (package.parent / file).exists() else "not in the installed package"
        return "not in the repository"
    return "does not exist"


def broken_paths(path: Path, text: str | None = None) -> list[str]:
    """The repository paths named in Markdown file `path` (or in `text`, as if it were
    that file) that do not exist, each with the reason."""
    broken = []
    text = path.read_text(encoding="utf-8") if text is None else text
    for name in dict.fromkeys(named_paths(text)):
        if is_repo_path(name) and (why := missing(name, path)):
            broken.append(f"`{name}`: {why}")
    return broken


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(doc):
    assert broken_links(doc) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_named_paths_exist(doc):
    assert broken_paths(doc) == []


def test_the_checks_catch_a_broken_link_and_path():
    """The two checks fail on made-up links and paths, and pass the good ones."""
    doc = ROOT / "docs" / "made-up.md"  # read as if it were there; never written
    text = ("See [the guide](config.md), [a part](metrics.md#the-metrics), [missing](nothing-here.md), "
            "[bad anchor](demo.md#no-such-heading), [site](https://example.org/x.md).\n\n"
            "Run `benchmarks/bench.py`, `docs/not-written.md`, `rules/common.smk`, `grids/nope.yaml`, "
            "`tests/test_docs.py::test_no_such_test`, `results/<model>/accuracy.csv`, "
            "`train/loss`, `scores.csv`, `report/*.rst`, `report/*.nothing`, `.md`, `doc/typo.md`.\n\n"
            "```bash\n.venv/bin/snakemake --configfile config.yaml overlays/missing.yaml\n```\n")
    links, paths = broken_links(doc, text), broken_paths(doc, text)
    assert [entry.split(":")[0] for entry in links] == ["nothing-here.md", "demo.md#no-such-heading"]
    assert [entry.split("`")[1] for entry in paths] == [
        "docs/not-written.md", "grids/nope.yaml", "tests/test_docs.py::test_no_such_test",
        "report/*.nothing", "doc/typo.md", "overlays/missing.yaml"]


# The files a published workflow carries.

def test_citation_cff_is_valid_cff():
    """CITATION.cff parses, with the keys CFF 1.2.0 requires of the work and of each
    reference, and cites the study and BibleQA."""
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors"):
        assert cff.get(key), key
    assert cff["type"] == "software" and cff["license"] == "Apache-2.0"

    def check_authors(authors):
        assert authors and all(isinstance(a, dict) and (a.get("family-names") or a.get("name"))
                               for a in authors)

    check_authors(cff["authors"])
    references = cff["references"]
    for ref in references:
        assert ref.get("type") and ref.get("title"), ref
        check_authors(ref["authors"])
    titles = {ref["title"] for ref in references}
    assert "Fine-Tuning on Pre-Training Data: A Model Comparison" in titles
    bibleqa = next(r for r in references if r["title"].startswith("Finding Answers from the Word of God"))
    assert bibleqa["year"] == 2018 and "1810.12118" in bibleqa["doi"]


def test_license_is_apache_2():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and "Copyright 2026 the bibleft workflow authors" in text


def test_workflow_catalog_file():
    """.snakemake-workflow-catalog.yml in the layout the catalog reads (usage: mandatory-flags,
    software-stack-deployment, report), and the flags it names are the workflow's."""
    usage = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert set(usage) == {"mandatory-flags", "software-stack-deployment", "report"}
    assert usage["mandatory-flags"]["desc"] and usage["mandatory-flags"]["flags"]
    assert all(isinstance(v, bool) for v in usage["software-stack-deployment"].values())
    assert usage["software-stack-deployment"]["conda"] is True and usage["report"] is True
    assert any((ROOT / "envs").glob("*.yaml"))  # conda: every rule names one of these
