"""The typed layer: runs of the grid (bibleft.grid) and the config's sections
(bibleft.config), built once from the merged config with the classes' defaults; the classes
are the one statement of a key, and schemas/config.schema.json and docs/config.md are
generated from them (bibleft.configdoc)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from bibleft import config, configdoc
from bibleft.config import OVERLAID, Experiment, load_config
from bibleft.corpora import corpus_of
from bibleft.dag import Plan, answers_file, probes_pattern
from bibleft.errors import InputError
from bibleft.grid import (CLOSED, OPEN, AnswerSet, BaseModel, FineTune, Grid, probes_file,
                          run_of)
from bibleft.jobs import FineTuneJob
from bibleft.questions import question_set_of

ROOT = Path(__file__).resolve().parents[1]


class Wildcards(dict):
    __getattr__ = dict.__getitem__


def shipped_raw() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))


def shipped_config() -> Experiment:
    return load_config(shipped_raw())


def section_class(name: str):
    """The class of a top-level section of Experiment (`train` -> TrainOptions)."""
    return Experiment.model_fields[name].annotation


# --- the one statement of every key, and what is generated from it ---------------------------

def test_the_generated_schema_and_guide_are_current():
    assert configdoc.main(["--check"]) == 0, f"regenerate them with `{configdoc.COMMAND}`"
    assert configdoc.SCHEMA_PATH.read_text(encoding="utf-8") == configdoc.schema_text()
    assert configdoc.GUIDE_PATH.read_text(encoding="utf-8") == configdoc.guide()


def test_the_generated_schema_states_every_section_and_key_of_the_classes():
    schema = json.loads(configdoc.SCHEMA_PATH.read_text(encoding="utf-8"))
    assert list(schema["properties"]) == list(Experiment.model_fields)
    assert set(schema["required"]) == {"run", "models"}
    for name in ("run", "data", "train", "lora", "answer", "open_book", "judge", "lm_eval",
                 "probes", "resources"):
        cls = section_class(name)
        node = schema["$defs"][cls.__name__]
        assert list(node["properties"]) == list(cls.model_fields), name
        assert node["additionalProperties"] is False, name  # an unknown key is refused there too
    # A default is the field's, stated once.
    assert schema["$defs"]["TrainOptions"]["properties"]["epochs"]["default"] == \
        config.TrainOptions.model_fields["epochs"].default == 4


def test_the_generated_schema_accepts_config_yaml():
    """The schema is for editors and other tools: the shipped config is valid by it, and a
    misspelt key is not."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(json.loads(configdoc.SCHEMA_PATH.read_text(encoding="utf-8")))
    raw = shipped_raw()
    assert [e.message for e in validator.iter_errors(raw)] == []
    raw["train"]["epoch"] = 3
    assert "Additional properties are not allowed ('epoch' was unexpected)" in [
        e.message for e in validator.iter_errors(raw)]


def _config_yaml_keys():
    """(where, class, keys) of every mapping config.yaml writes: each section, each
    registry entry (by its kind's class), each setting's overlaid sections."""
    raw = shipped_raw()
    for name, value in raw.items():
        if name == "models":
            for slug, entry in value.items():
                yield f"models.{slug}", config.ModelEntry, set(entry)
        elif name == "corpora":
            for corpus, entry in value.items():
                yield f"corpora.{corpus}", type(corpus_of(entry)), set(entry)
        elif name == "questions":
            for questions, entry in value.items():
                yield f"questions.{questions}", type(question_set_of(entry)), set(entry)
        elif name == "settings":
            for setting, overlay in value.items():
                assert set(overlay or {}) <= set(OVERLAID), setting
                for section, keys in (overlay or {}).items():
                    yield f"settings.{setting}.{section}", section_class(section), set(keys)
        else:
            yield name, section_class(name), set(value)


@pytest.mark.parametrize("where, cls, keys", list(_config_yaml_keys()),
                         ids=[where for where, _, _ in _config_yaml_keys()])
def test_every_config_yaml_key_is_a_field_of_its_class(where, cls, keys):
    assert set(shipped_raw()) <= set(Experiment.model_fields)
    assert keys <= set(cls.model_fields), f"{where}: {sorted(keys - set(cls.model_fields))}"


def test_a_missing_or_unknown_key_fails_naming_it():
    judge = {"ignore_case": False, "alternatives": True, "f1_threshold": 0.5}
    assert config.JudgeOptions.from_dict(judge).alternatives is True
    raw = shipped_raw()
    with pytest.raises(InputError, match=r"^config error: run: 'models' is a required property$"):
        load_config({**raw, "run": {k: v for k, v in raw["run"].items() if k != "models"}})
    source_less = copy.deepcopy(raw)
    del source_less["models"]["gpt2"]["source"]
    with pytest.raises(InputError, match=r"^config error: models\.gpt2: 'source' is a required property$"):
        load_config(source_less)
    with pytest.raises(InputError, match=r"^config error: train: Additional properties are not "
                                         r"allowed \('epoch' was unexpected\)"):
        load_config(config.deep_merge(raw, {"train": {"epoch": 3}}))
    with pytest.raises(InputError, match=r"^config error: judge: Additional properties are not "
                                         r"allowed \('alternative' was unexpected\)"):
        load_config(config.deep_merge(raw, {"judge": {**judge, "alternative": True}}))
    assert raw == shipped_raw()  # load_config left what it read as it was


def test_the_experiment_is_config_yaml_typed():
    experiment = shipped_config()
    assert experiment.grid == Grid(("gpt2-large",), ("paper",), (42,))
    assert experiment.answer.max_new_tokens == 15 and experiment.judge.ignore_case is False
    assert experiment.models["gpt2-large"].lora_targets == ["c_attn", "c_proj", "c_fc"]
    assert experiment.settings["paper"].lora == config.LoraOptions(r=8, alpha=8, dropout=0.0)
    alpha = experiment.settings["paper"].lora.alpha
    assert alpha == 8 and type(alpha) is int  # an integer given stays an integer
    # The defaults are the classes': cpus_per_gpu as config.yaml writes it is the default.
    assert experiment.resources.cpus_per_gpu == config.Resources.model_fields["cpus_per_gpu"].default


def test_a_fine_tunes_train_options_carry_its_seed_folder_and_own_compile_mode():
    raw = shipped_raw()
    raw["settings"]["mixed"] = {"train": {"compile": {"full": "reduce-overhead", "lora": False},
                                          "learning_rate": 1e-4}}
    raw["run"]["settings"] = ["paper", "mixed"]
    experiment = load_config(raw)
    full, lora = (FineTune("gpt2-large", "mixed", 7, m) for m in ("full", "lora"))
    assert experiment.train_options(full).compile == "reduce-overhead"
    assert experiment.train_options(full).compile_scope == "model"
    assert experiment.train_options(lora).compile is False
    assert experiment.train_options(lora).compile_scope is None  # eager: no scope to change
    assert experiment.train_options(lora).learning_rate == 1e-4
    assert experiment.settings["paper"].train.learning_rate == 5e-5
    # The same through TrainOptions.for_method: the setting's train holds both modes.
    train = experiment.settings["mixed"].train
    assert train.for_method("full") == experiment.train_options(full)
    assert train.for_method("lora") == experiment.train_options(lora)
    assert train.for_method("full").padding_free is False  # compiled: padded batches
    # The seed and the resume folder are the fine-tune's, written nowhere else.
    plan = Plan(experiment)
    job = plan.fine_tune_options(Wildcards(model="gpt2-large", setting="mixed", seed="7", method="lora"))
    assert job["fine_tune"] == {"model": "gpt2-large", "setting": "mixed", "seed": 7, "method": "lora"}
    assert "seed" not in job["train"] and job["resume_dir"] == "resume/gpt2-large/mixed/seed7/lora"
    assert job["lora"] == {"r": 8, "alpha": 8, "dropout": 0.0}
    assert job["lora_targets"] == ["c_attn", "c_proj", "c_fc"]
    full_job = plan.fine_tune_options(Wildcards(model="gpt2-large", setting="mixed", seed="7",
                                                method="full"))
    assert full_job["lora"] is None and full_job["lora_targets"] is None  # LoRA's: LoRA's job only
    assert full_job["train"] == experiment.train_options(full).as_dict()


def test_a_fine_tune_job_round_trips_through_its_mapping():
    experiment = shipped_config()
    options = Plan(experiment).fine_tune_options(
        Wildcards(model="gpt2-large", setting="paper", seed="42", method="lora"))
    places = {"base_model": "models/gpt2-large", "data": {"text": "data/tokenized/gpt2/asv/reference_text"},
              "output": "checkpoints/gpt2-large/paper/seed42/lora", "gpus": []}
    job = FineTuneJob.from_dict({**options, **places})
    assert job.is_lora and job.fine_tune == FineTune("gpt2-large", "paper", 42, "lora")
    assert job.train == experiment.train_options(job.fine_tune)
    assert FineTuneJob.from_dict(job.as_dict()) == job
    assert json.loads(json.dumps(job.as_dict())) == job.as_dict()  # JSON-able, for a launched job
    assert job.as_dict() == {**options, **places}
    full = FineTuneJob.from_dict({**job.as_dict(), "fine_tune": {**job.fine_tune.as_dict(), "method": "full"},
                                  "lora": None, "lora_targets": None})
    assert not full.is_lora and FineTuneJob.from_dict(full.as_dict()) == full
    with pytest.raises(KeyError, match="missing \\['gpus'\\]"):
        FineTuneJob.from_dict({**options, **{k: v for k, v in places.items() if k != "gpus"}})


# --- the grid's runs and their files ---------------------------------------------------------

def test_runs_know_their_folders_and_names():
    ft = FineTune("gpt2", "lr1e-4", 43, "lora")
    assert ft.checkpoint_dir == "checkpoints/gpt2/lr1e-4/seed43/lora"
    assert ft.folder == "results/gpt2/lr1e-4/seed43"
    answers = AnswerSet(ft, "bibleqa", CLOSED)
    assert answers.file("predictions") == "results/gpt2/lr1e-4/seed43/bibleqa/closed/predictions/lora.jsonl"
    assert answers.file("generations", ".timing.json") == \
        "results/gpt2/lr1e-4/seed43/bibleqa/closed/generations/lora.timing.json"
    assert ft.name == "gpt2/lr1e-4/seed43/lora" and ft.key == "lr1e-4/seed43/lora"
    assert ft.run == "lr1e-4/seed43" and BaseModel("gpt2").run == "base"
    assert probes_file(BaseModel("gpt2"), "asv") == "results/gpt2/base/probes/asv/base.jsonl"
    assert probes_file(ft, "asv") == "results/gpt2/lr1e-4/seed43/probes/asv/lora.jsonl"
    open_book = AnswerSet(ft, "bibleqa", OPEN, "asv")
    assert open_book.file("generations") == "results/gpt2/lr1e-4/seed43/bibleqa/open-asv/generations/lora.jsonl"
    assert open_book.variant == "lora_open" and answers.variant == "lora"
    assert open_book.base() == AnswerSet(BaseModel("gpt2"), "bibleqa", OPEN, "asv")
    assert open_book.base().file("predictions") == "results/gpt2/base/bibleqa/open-asv/predictions/base.jsonl"
    # The rules write these patterns: the same spelling as the answer sets' own paths.
    assert answers_file("predictions") == "results/{model}/{run}/{questions}/{mode}/predictions/{variant}.jsonl"
    assert answers_file("predictions").format(**answers.wildcards()) == answers.file("predictions")
    assert probes_pattern().format(model="gpt2", run="base", corpus="asv", variant="base") == \
        probes_file(BaseModel("gpt2"), "asv")
    assert FineTune.from_dict(ft.as_dict()) == ft


def test_an_answer_set_round_trips_through_its_mapping_and_its_wildcards():
    ft = FineTune("gpt2", "lr1e-4", 43, "lora")
    for answers in (AnswerSet(ft, "bibleqa", CLOSED), AnswerSet(ft, "mine", OPEN, "kjv"),
                    AnswerSet(BaseModel("gpt2"), "bibleqa", CLOSED),
                    AnswerSet(BaseModel("gpt2"), "bibleqa", OPEN, "asv")):
        assert AnswerSet.from_dict(answers.as_dict()) == answers
        assert AnswerSet.from_dict(json.loads(json.dumps(answers.as_dict()))) == answers
        assert AnswerSet.of_wildcards(Wildcards(answers.wildcards()), ["asv", "kjv"]) == answers
    assert AnswerSet.of_wildcards(Wildcards(model="m", run="paper/seed42", questions="bibleqa",
                                            mode="open-asv", variant="full"), ["asv"]) == \
        AnswerSet(FineTune("m", "paper", 42, "full"), "bibleqa", OPEN, "asv")
    with pytest.raises(ValueError, match="no answering mode has the folder 'open-bbe'"):
        AnswerSet.of_wildcards(Wildcards(model="m", run="base", questions="bibleqa",
                                         mode="open-bbe", variant="base"), ["asv"])


def test_a_jobs_wildcards_are_its_runs_fields():
    assert run_of("m", "s/seed3", "full") == FineTune("m", "s", 3, "full")
    assert run_of("m", "base", "base") == BaseModel("m")
    for run in (FineTune("m", "s", 3, "lora"), BaseModel("m")):
        assert run_of(run.model, run.run, run.variant) == run
    with pytest.raises(ValueError, match="holds the base model's files, not full's"):
        run_of("m", "base", "full")
    assert Plan(shipped_config()).fine_tune(Wildcards(model="m", setting="s", seed="3", method="full")) == \
        FineTune("m", "s", 3, "full")


def test_a_fine_tune_refuses_what_no_run_is():
    with pytest.raises(ValueError, match="unknown fine-tuning method 'qlora'"):
        FineTune("m", "paper", 1, "qlora")
    with pytest.raises(TypeError, match="seed '1' is not an integer"):
        FineTune("m", "paper", "1", "full")


def test_the_grid_lists_fine_tunes_by_setting_seed_and_method():
    grid = Grid(("a", "b"), ("paper", "lr"), (1, 2))
    assert [ft.key for ft in grid.fine_tunes("a")] == [
        "paper/seed1/full", "paper/seed1/lora", "paper/seed2/full", "paper/seed2/lora",
        "lr/seed1/full", "lr/seed1/lora", "lr/seed2/full", "lr/seed2/lora"]
    assert [ft.model for ft in grid.fine_tunes("b")] == ["b"] * 8

