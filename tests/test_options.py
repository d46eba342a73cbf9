"""The typed layer: runs of the grid (bibleft.grid) and each stage's options
(bibleft.options), built once from the validated config with the schema's defaults."""

from __future__ import annotations

import copy
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from bibleft import options
from bibleft.configcheck import SCHEMA_PATH, load_schema, validate_config
from bibleft.grid import BaseModel, FineTune, Grid, file_pattern, fine_tunes_from, run_of

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = load_schema(SCHEMA_PATH)


def shipped_config() -> dict:
    return validate_config(yaml.safe_load((ROOT / "config.yaml").read_text()), copy.deepcopy(SCHEMA))


def schema_keys(*path: str) -> set[str]:
    node = SCHEMA
    for part in path:
        node = node["properties"][part]
    return set(node["properties"])


# Each options class and the schema section it types; TrainOptions also holds what one
# fine-tune sets (its seed and resume folder), which no config holds.
SECTIONS = [
    (options.TrainOptions, ("train",), set()),
    (options.LoraOptions, ("lora",), set()),
    (options.AnswerOptions, ("answer",), set()),
    (options.JudgeOptions, ("judge",), set()),
    (options.ProbeOptions, ("probes",), set()),
    (options.DataOptions, ("data",), set()),
    (options.LmEvalOptions, ("lm_eval",), set()),
    (options.Resources, ("resources",), set()),
]


@pytest.mark.parametrize("cls, section, per_job", SECTIONS, ids=[c.__name__ for c, _, _ in SECTIONS])
def test_each_options_class_has_exactly_its_schema_sections_keys(cls, section, per_job):
    assert {f.name for f in fields(cls)} == schema_keys(*section) | per_job


@pytest.mark.parametrize("cls, registry", [(options.ModelEntry, "models"), (options.CorpusEntry, "corpora"),
                                           (options.QuestionSet, "questions")])
def test_a_registry_entry_has_exactly_the_schemas_keys(cls, registry):
    entry = SCHEMA["properties"][registry]["additionalProperties"]["properties"]
    assert {f.name for f in fields(cls)} == set(entry)


def test_a_missing_or_unknown_key_fails_naming_it():
    judge = {"ignore_case": False, "alternatives": True, "f1_threshold": 0.5}
    assert options.JudgeOptions.from_dict(judge).alternatives is True
    with pytest.raises(KeyError, match="judge: missing alternatives"):
        options.JudgeOptions.from_dict({k: v for k, v in judge.items() if k != "alternatives"}, "judge")
    with pytest.raises(KeyError, match="unknown alternative"):
        options.JudgeOptions.from_dict({**judge, "alternative": True})


def test_the_experiment_is_the_validated_config_typed():
    config = shipped_config()
    experiment = options.Experiment.from_config(config)
    assert experiment.grid == Grid(("gpt2-large",), ("paper",), (42,))
    assert experiment.answer.max_new_tokens == 15 and experiment.judge.ignore_case is False
    assert experiment.models["gpt2-large"].lora_targets == ["c_attn", "c_proj", "c_fc"]
    assert experiment.settings["paper"].lora == options.LoraOptions(r=8, alpha=8, dropout=0.0)
    # The defaults are the schema's: config.yaml leaves resources.cpus_per_gpu as it is.
    assert experiment.resources.cpus_per_gpu == SCHEMA["properties"]["resources"]["properties"][
        "cpus_per_gpu"]["default"]


def test_a_fine_tunes_train_options_carry_its_seed_folder_and_own_compile_mode():
    config = shipped_config()
    config["settings"]["mixed"] = {"train": {"compile": {"full": "reduce-overhead", "lora": False},
                                             "learning_rate": 1e-4}}
    config["run"]["settings"] = ["paper", "mixed"]
    experiment = options.Experiment.from_config(validate_config(config, copy.deepcopy(SCHEMA)))
    full, lora = (FineTune("gpt2-large", "mixed", 7, m) for m in ("full", "lora"))
    assert experiment.train_options(full).compile == "reduce-overhead"
    assert experiment.train_options(full).compile_scope == "model"
    assert experiment.train_options(lora).compile is False
    assert experiment.train_options(lora).compile_scope is None  # eager: no scope to change
    assert experiment.train_options(lora).learning_rate == 1e-4
    assert experiment.settings["paper"].train.learning_rate == 5e-5
    # The seed and the resume folder are the fine-tune's, written nowhere else.
    job = experiment.fine_tune_options(lora)
    assert job["fine_tune"] == {"model": "gpt2-large", "setting": "mixed", "seed": 7, "method": "lora"}
    assert "seed" not in job["train"] and job["resume_dir"] == "resume/gpt2-large/mixed/seed7/lora"
    assert job["lora"] == {"r": 8, "alpha": 8, "dropout": 0.0}
    assert experiment.fine_tune_options(full)["lora"] is None  # LoRA's settings: LoRA's job only


def test_runs_know_their_folders_and_names():
    ft = FineTune("gpt2", "lr1e-4", 43, "lora")
    assert ft.checkpoint_dir == "checkpoints/gpt2/lr1e-4/seed43/lora"
    assert ft.folder == "results/gpt2/lr1e-4/seed43"
    assert ft.file("predictions") == "results/gpt2/lr1e-4/seed43/predictions/lora.jsonl"
    assert ft.file("generations", ".timing.json") == "results/gpt2/lr1e-4/seed43/generations/lora.timing.json"
    assert ft.name == "gpt2/lr1e-4/seed43/lora" and ft.key == "lr1e-4/seed43/lora"
    assert BaseModel("gpt2").file("probes") == "results/gpt2/base/probes/base.jsonl"
    # The rules write these patterns: the same spelling as the runs' own paths.
    assert file_pattern(FineTune, "predictions") == "results/{model}/{setting}/seed{seed}/predictions/{method}.jsonl"
    assert file_pattern(BaseModel, "predictions") == "results/{model}/base/predictions/base.jsonl"
    assert fine_tunes_from([ft.as_dict()]) == [ft]


def test_a_jobs_wildcards_are_its_runs_fields():
    class Wildcards(dict):
        __getattr__ = dict.__getitem__

    assert run_of(Wildcards(model="m", setting="s", seed="3", method="full")) == FineTune("m", "s", 3, "full")
    assert run_of(Wildcards(model="m")) == BaseModel("m")


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
