"""Every input checked before the first job: names that become folders, numbers as YAML
1.2 reads them, files and tools the config names, commands that would run something
else, and what a run says at its start and at its failure. Each bad input gets one line
naming the key, the value and the way out, and nothing is written."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import pytest
import yaml

from bibleft import fileio, preflight
from bibleft.config import load_config
from bibleft.dag import Plan
from bibleft.errors import InputError
from bibleft.grid import Grid
from workflow_helpers import ROOT, snakemake, tiny_project, with_dotted, with_overlay, write_config

SHIPPED = yaml.safe_load((ROOT / "config.yaml").read_text())


def check(config: dict, files=()) -> str:
    """The one-line error of validating `config`, or "" when it passes."""
    try:
        load_config(config, list(files))
    except InputError as err:
        return str(err)
    return ""


def shipped(**sections) -> dict:
    config = copy.deepcopy(SHIPPED)
    for section, values in sections.items():
        config[section] = {**config.get(section, {}), **values}
    return config


# --- names that become folders -------------------------------------------------------------

@pytest.mark.parametrize("name", [".", "..", ".hidden", "-x", "a/b", "a b"])
def test_a_setting_name_that_is_no_folder_name_is_refused(name):
    message = check(shipped(settings={name: {}}, run={"models": ["gpt2-large"], "settings": [name]}))
    assert re.fullmatch(rf"config error: settings: {re.escape(repr(name))} is not a valid name: it "
                        r"becomes a folder, so use letters, digits, '\.', '_' and '-', starting with a "
                        r"letter or digit", message), message


@pytest.mark.parametrize("registry, names, key", [
    ("settings", ["paper", "Paper"], "settings"),
    ("models", ["gpt2", "GPT2"], "models"),
])
def test_two_names_that_would_share_a_folder_are_refused(registry, names, key):
    config = copy.deepcopy(SHIPPED)
    if registry == "settings":
        config["settings"] = {names[0]: {}, names[1]: {"lora": {"r": 4}}}
    else:
        config["models"][names[1]] = dict(config["models"][names[0]], tokenizer="gpt2")
    message = check(config)
    assert message == (f"config error: {key}: {names[1]!r} and {names[0]!r} would share one folder "
                       "on a file system that ignores case (macOS, Windows); rename one"), message


def test_the_base_models_folder_is_no_setting_name_in_any_case():
    assert "'base' is reserved" in check(shipped(settings={"base": {}}))
    assert check(shipped(settings={"Base": {}})) == (
        "config error: settings.Base: 'Base' is reserved (results/<model>/base/ holds the base "
        "model's answers); choose another name")


def test_tokenizer_keys_that_would_share_a_folder_are_refused():
    config = copy.deepcopy(SHIPPED)
    config["models"]["gpt2"]["tokenizer"] = "GPT2"
    assert "config error: models.<slug>.tokenizer: 'GPT2' and 'gpt2' would share one folder" in check(config)


# --- numbers as YAML 1.2 reads them; lists -------------------------------------------------

def test_exponent_floats_without_a_dot_are_numbers():
    # PyYAML (YAML 1.1) reads 1e-4 as text: in a file, an overlay's setting or --config alike.
    config = shipped(train={"learning_rate": "1e-4"}, lora={"alpha": "1E1"})
    config["settings"] = {"paper": {}, "lr": {"train": {"learning_rate": "5e-5"}}}
    assert check(config) == ""
    experiment = load_config(config)
    assert experiment.train.learning_rate == 1e-4 and experiment.lora.alpha == 10.0
    assert experiment.settings["lr"].train.learning_rate == 5e-5
    assert yaml.safe_load("x: 1e-4")["x"] == "1e-4"  # why: PyYAML alone keeps it text


def test_a_whole_float_where_an_integer_is_wanted_is_that_integer():
    config = shipped(run={"models": ["gpt2-large"], "seeds": [2.0, 3]}, train={"epochs": 4.0})
    assert check(config) == ""
    experiment = load_config(config)
    assert experiment.run.seeds == [2, 3] and isinstance(experiment.run.seeds[0], int)
    assert isinstance(experiment.train.epochs, int)
    assert "train.epochs: 2.5 is not of type 'integer'" in check(shipped(train={"epochs": 2.5}))


@pytest.mark.parametrize("key, value, expected", [
    ("run.seeds", "42", "config error: run.seeds: expected a list of integers, e.g. seeds: [...]; got 42"),
    ("run.models", "gpt2", "config error: run.models: expected a list of names (letters, digits, "
                           "'.', '_' and '-', starting with a letter or digit), e.g. models: [...]; got 'gpt2'"),
    ("probes.translations", "kjv", "config error: probes.translations: expected a list of values "
                                   "from ['kjv', 'bbe'], e.g. translations: [...]; got 'kjv'"),
])
def test_a_list_key_given_one_value_says_what_the_list_holds(key, value, expected):
    section, leaf = key.split(".")
    assert check(shipped(**{section: {leaf: value}})) == expected


def test_null_typed_on_the_command_line_is_null_where_the_key_takes_text_or_null():
    # --config "questions={bibleqa: {path: null}}" hands over the text 'null'.
    config = shipped(questions={"bibleqa": {"kind": "bibleqa", "path": "null", "sha256": "null"}})
    assert check(config) == ""
    bibleqa = load_config(config).questions["bibleqa"]
    assert bibleqa.path is None and bibleqa.sha256 is None


@pytest.mark.parametrize("overlay, message", [
    ({"data": {"bibleqa": {"path": "/x/1001.csv"}}}, "data.bibleqa is now questions.bibleqa"),
    ({"data": {"asv": {"books": ["Ruth"]}}}, "data.asv is now corpora.asv"),
    ({"eval": {"limit": 5}}, "eval is now answer"),
    ({"score": {"ignore_case": True}}, "score is now judge"),
    ({"train": {"checkpoint_every": 100}}, "train.checkpoint_every is now train.resume_every"),
    ({"settings": {"paper": {"train": {"checkpoint_every": 100}}}},
     "settings.paper.train.checkpoint_every is now train.resume_every"),
])
def test_a_renamed_key_is_named_with_its_new_name(overlay, message):
    # One name per concept: an old key is not translated without a word, it stops the run
    # with one line naming where its value goes now.
    assert check(shipped(**overlay)).startswith(f"config error: {message} (")


def test_a_key_of_another_kind_of_corpus_is_refused():
    config = shipped(corpora={"notes": {"kind": "text", "path": "/x.txt", "books": ["Ruth"]}})
    assert check(config) == ("config error: corpora.notes: books do(es) not apply to kind text "
                             "(it reads max_examples, path, unit)")
    config = shipped(corpora={"notes": {"kind": "text"}})
    assert check(config) == "config error: corpora.notes.path: a text corpus needs one"
    config = shipped(data={"corpus": "nowhere"})
    assert check(config).startswith("config error: data.corpus: 'nowhere' is not in corpora (known: asv, bbe, kjv")


# --- a model or setting that only a shipped file defines -----------------------------------

def test_a_demo_overlay_without_the_demo_config_says_which_command_names_both():
    grid = yaml.safe_load((ROOT / "grids/demo-seeds.yaml").read_text())
    message = check({**copy.deepcopy(SHIPPED), "run": grid["run"]}, ["grids/demo-seeds.yaml"])
    assert message.startswith("config error: run.models: 'smollm2-135m' is not in models (known: ")
    assert message.endswith("; profiles/demo/demo.yaml defines it: name that file first, --configfile "
                            "profiles/demo/demo.yaml grids/demo-seeds.yaml (a --configfile on the "
                            "command line replaces a profile's)"), message


# --- files and tools the config names ------------------------------------------------------

def test_a_text_file_must_be_a_file_with_text(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("one line\n")
    assert fileio.text_file("probes.texts.x", str(good), "a text") == str(good)
    (tmp_path / "empty.txt").write_text("\n  \n")
    cases = {str(tmp_path / "empty.txt"): "is empty", str(tmp_path): "is a folder, not a file",
             str(tmp_path / "nowhere.txt"): "does not exist"}
    for path, why in cases.items():
        with pytest.raises(InputError) as err:
            fileio.text_file("probes.texts.x", path, "a text for the probes")
        assert str(err.value) == f"config error: probes.texts.x: {path} {why} (a text for the probes)"


def test_an_executable_is_a_command_on_path_or_an_executable_file(tmp_path):
    assert fileio.executable("lm_eval.python", "sh", "install it") == "sh"
    script = tmp_path / "python"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(InputError, match=r"^config error: lm_eval\.python: no executable '.*python' here; install it$"):
        fileio.executable("lm_eval.python", str(script), "install it")  # not executable
    script.chmod(0o755)
    assert fileio.executable("lm_eval.python", str(script), "install it") == str(script)


def test_a_gguf_package_that_is_not_installed_is_named_before_any_job():
    from bibleft import sources

    with pytest.raises(InputError) as err:
        sources.check_model_entry("demo", "gguf:no_such_gguf_package", None, "models/never-made")
    assert str(err.value) == ("config error: models.demo.source: gguf:no_such_gguf_package: Python "
                              "package 'no_such_gguf_package' is not installed; install the package "
                              "that provides it")
    # Converted once already: the source is not read again, so it need not be installed.
    sources.check_model_entry("demo", "gguf:no_such_gguf_package", None, str(ROOT / "rules"))


# --- what a run says at its start ------------------------------------------------------------

def planned(**changes) -> Plan:
    """The Plan of the shipped config with `changes` ({"a.b": value}) made."""
    return Plan(load_config(with_dotted(copy.deepcopy(SHIPPED), changes)))


def test_the_plan_line_names_the_grid_the_config_files_and_the_device():
    plan = planned(run={"models": ["gpt2", "gpt2-large"], "settings": ["paper"], "seeds": [42, 43]})
    assert plan.grid == Grid(("gpt2", "gpt2-large"), ("paper",), (42, 43))
    line = preflight.plan_line(plan, ["config.yaml", "grids/x.yaml", "--config"],
                               preflight.device_words(True, "local", ["0", "1"]))
    assert line == ("plan: 2 models (gpt2, gpt2-large) x 1 setting (paper) x 2 seeds (42, 43) = "
                    "8 fine-tunes, 10 answer sets; config: config.yaml < grids/x.yaml < --config; "
                    "device: CUDA GPU(s) 0,1 visible")
    # Open book: the base model answers once per book, each fine-tune once more.
    plan = planned(**{"run": {"models": ["gpt2"], "settings": ["paper", "kjv"], "seeds": [42]},
                      "settings.kjv": {"data": {"corpus": "kjv"}}, "open_book.enabled": True})
    assert plan.grid == Grid(("gpt2",), ("paper", "kjv"), (42,))
    opened = preflight.plan_line(plan, ["config.yaml"], "CPU")
    assert "= 4 fine-tunes, 5 answer sets closed book and 6 open book (from asv, kjv); " in opened
    # A setting answering another question set (the facts control): the base model answers
    # each set once, open book once per (book, set): the demo control grid's line.
    plan = planned(**{
        "run": {"models": ["m"], "settings": ["paper", "facts-p1", "facts-p4"], "seeds": [42, 43]},
        "models.m": {"source": "example-org/m", "lora_targets": ["c_attn"]},
        "corpora.facts-p1": {"kind": "facts", "count": 50, "paraphrases": 1},
        "corpora.facts-p4": {"kind": "facts", "count": 50, "paraphrases": 4},
        "questions.facts": {"kind": "facts", "corpus": "facts-p4"},
        "settings.facts-p1": {"data": {"corpus": "facts-p1", "questions": "facts"}},
        "settings.facts-p4": {"data": {"corpus": "facts-p4", "questions": "facts"}},
        "open_book.enabled": True})
    assert plan.grid == Grid(("m",), ("paper", "facts-p1", "facts-p4"), (42, 43))
    control = preflight.plan_line(plan, ["config.yaml"], "CPU")
    assert "= 12 fine-tunes, 14 answer sets closed book and 15 open book (from asv, facts-p1, facts-p4)" in control
    assert preflight.device_words(True, "local", []) == "CPU (no CUDA GPU visible)"
    assert preflight.device_words(False, "slurm", []).startswith("jobs go to slurm")
    assert preflight.gpu_warning(1, ["0"]) is None and preflight.gpu_warning(0, []) is None
    assert preflight.gpu_warning(1, []).startswith("warning: resources.gpu: 1 asks a GPU for each model job")


def test_the_progress_line_names_the_log_the_finetune_rule_writes():
    """The line printed at the start names a file a user can `tail -f`: the finetune rule's
    log for the grid's first fine-tune, as rules/finetune.smk spells it."""
    rule = (Path(__file__).resolve().parents[1] / "rules" / "finetune.smk").read_text()
    pattern = re.search(r'log:\s*"([^"]+)"', rule)[1]
    line = preflight.progress_line(Grid(("gpt2",), ("paper", "kjv"), (43, 44)))
    expected = pattern.format(model="gpt2", setting="paper", seed=43, method="full")
    assert f"`tail -f {expected}`" in line


def test_the_slurm_placeholders_are_named():
    assert preflight.slurm_placeholders({"slurm_partition": "gpu", "mem_mb": "2000"}) is None
    error = preflight.slurm_placeholders({"slurm_partition": "'<PARTITION>'", "slurm_account": "<ACCOUNT>"})
    assert error.startswith("profile error: default-resources slurm_partition=<PARTITION>, "
                            "slurm_account=<ACCOUNT> still hold their placeholders from profiles/slurm/config.yaml")
    assert error.endswith("nothing was submitted")


def test_the_merge_order_is_the_snakefiles_config_then_the_command_lines(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text("{}")
    given = [str(tmp_path / "config.yaml"), str(tmp_path / "mine.yaml")]
    assert preflight.merge_order(["config.yaml", *given], given, True) == [
        "config.yaml", "mine.yaml", "--config"]


def test_job_errors_are_the_one_line_errors_of_this_runs_logs(tmp_path):
    log = tmp_path / "logs/data/x.log"
    log.parent.mkdir(parents=True)
    log.write_text("downloading\nerror in rule x: could not download u; set data.bibleqa.path\n")
    assert preflight.job_errors(str(tmp_path / "logs"), 0) == [
        "error in rule x: could not download u; set data.bibleqa.path"]
    assert preflight.job_errors(str(tmp_path / "logs"), log.stat().st_mtime + 1) == []


# --- through the workflow: refused before any job, nothing written ---------------------------

WRITTEN = ("data", "results", "checkpoints", "models", "resume", "logs")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return tiny_project(tmp_path_factory.mktemp("preflight"))


def refused(project: dict, tmp_path: Path, *args: str, **overrides) -> str:
    """Run the workflow with the tiny config and `overrides`; it must stop with one line,
    before any job, leaving nothing behind. Returns that line."""
    config = yaml.safe_load(project["config"].read_text())
    for dotted, value in overrides.items():
        node = config
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    overlay = write_config(tmp_path / "overlay.yaml", config)
    proc = snakemake(project["project"], *args, "--cores", "1", *with_overlay(overlay), check=False)
    out = (proc.stdout + proc.stderr).strip()
    assert proc.returncode != 0, out[-2000:]
    assert not [p for p in WRITTEN if (project["project"] / p).exists()], out[-2000:]
    return out.splitlines()[-1]


@pytest.mark.e2e
def test_a_setting_named_dot_dot_stops_the_run(project, tmp_path):
    line = refused(project, tmp_path, **{"settings": {"..": {}}, "run.settings": [".."]})
    assert line.startswith("config error: settings: '..' is not a valid name: it becomes a folder")


@pytest.mark.e2e
def test_a_missing_harness_stops_the_lm_eval_run_before_any_fine_tune(project, tmp_path):
    line = refused(project, tmp_path, "results/tiny-gpt2/paper/seed42/lm_eval.csv",
                   **{"lm_eval.python": str(tmp_path / "no-venv/bin/python")})
    assert line == (f"config error: lm_eval.python: no executable '{tmp_path}/no-venv/bin/python' here; "
                    "install the harness: python3 -m venv .venv-lmeval && .venv-lmeval/bin/pip install "
                    "-r requirements-lmeval.txt (docs/lm-eval.md), or set lm_eval.python")


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["empty", "folder"])
def test_a_bad_probe_text_stops_the_run(project, tmp_path, kind):
    path = tmp_path / "text"
    path.mkdir() if kind == "folder" else path.write_text("\n")
    line = refused(project, tmp_path, **{"probes.texts": {"wiki": str(path)}})
    why = "is a folder, not a file" if kind == "folder" else "is empty"
    assert line == f"config error: probes.texts.wiki: {path} {why} (a text for the probes: one example per line)"


@pytest.mark.e2e
def test_a_gguf_source_not_installed_stops_the_run(project, tmp_path):
    line = refused(project, tmp_path, **{"models.tiny-gpt2.source": "gguf:no_such_gguf_package"})
    assert line.startswith("config error: models.tiny-gpt2.source: gguf:no_such_gguf_package: "
                           "Python package 'no_such_gguf_package' is not installed")


@pytest.mark.e2e
def test_an_exponent_typed_on_the_command_line_is_a_number(project):
    proc = snakemake(project["project"], "-n", *with_overlay(project["config"]),
                     "--config", "train={learning_rate: 1e-4}", "run={seeds: [2.0]}")
    assert "config error" not in proc.stderr
    assert "checkpoints/tiny-gpt2/paper/seed2/full" in proc.stdout  # seed 2, not seed2.0


@pytest.mark.e2e
@pytest.mark.parametrize("overlay", ["grids/demo-seeds.yaml", "overlays/demo-gemma.yaml"])
def test_a_demo_overlay_replacing_the_demo_config_is_refused_with_the_command(project, overlay):
    # `--profile profiles/demo --configfile <overlay>`: the overlay replaces the profile's config.
    proc = snakemake(project["project"], "--profile", "profiles/demo", "--configfile", overlay, "-n",
                     check=False)
    assert proc.returncode != 0
    line = (proc.stdout + proc.stderr).strip().splitlines()[-1]
    assert line.startswith("config error: run.models: 'smollm2-135m' is not in models"), line
    assert line.endswith(f"; profiles/demo/demo.yaml defines it: name that file first, --configfile "
                         f"profiles/demo/demo.yaml {overlay} (a --configfile on the command line "
                         "replaces a profile's)"), line
    assert not [p for p in WRITTEN if (project["project"] / p).exists()]


@pytest.mark.e2e
def test_a_run_says_its_plan_and_warns_of_a_gpu_it_cannot_see(tmp_path):
    setup = tiny_project(tmp_path)  # resources.gpu: 1 (config.yaml's), and no GPU here
    target = "results/tiny-gpt2/base/bibleqa/closed/generations/base.jsonl"
    proc = snakemake(setup["project"], target, "--cores", "2", *with_overlay(setup["config"]))
    lines = proc.stderr.splitlines()
    plan = next(line for line in lines if line.startswith("plan: "))
    assert plan.startswith("plan: 1 model (tiny-gpt2) x 1 setting (paper) x 1 seed (42) = 2 fine-tunes, "
                           "3 answer sets; config: config.yaml < ")
    assert plan.endswith("tiny.yaml; device: CPU (no CUDA GPU visible)")
    assert any(line.startswith("warning: resources.gpu: 1 asks a GPU for each model job") for line in lines)
    log = (setup["project"] / "logs/generate/tiny-gpt2/base/bibleqa/closed/base.log").read_text()
    assert "warning: this job asked for 1 GPU(s) (resources.gpu) but no CUDA GPU is visible: " \
           "it runs on the CPU" in log


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("sbatch") is not None, reason="a real SLURM here would be submitted to")
def test_the_slurm_profile_refuses_to_submit_with_its_placeholders(project, tmp_path):
    proc = snakemake(project["project"], "data/questions/bibleqa.jsonl", "--profile", "profiles/slurm",
                     *with_overlay(project["config"]), check=False)
    assert proc.returncode != 0
    line = (proc.stdout + proc.stderr).strip().splitlines()[-1]
    assert line.startswith("profile error: default-resources slurm_partition=<PARTITION>, "
                           "slurm_account=<ACCOUNT> still hold their placeholders")
    assert not (project["project"] / "data").exists()
