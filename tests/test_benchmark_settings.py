"""The benchmarks take their settings from config.yaml, checked and completed by the
workflow's typed config, and change only what each says it changes."""

from __future__ import annotations

import importlib.util

import pytest
import yaml

from bibleft.errors import InputError
from workflow_helpers import ROOT

spec = importlib.util.spec_from_file_location("cpu_bench", ROOT / "benchmarks" / "bench.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
load_config = bench.common.load_workflow_config


def test_load_config_checks_the_file_and_fills_in_the_defaults(tmp_path):
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    del config["train"]["compile"], config["lora"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    loaded = load_config(path)
    assert loaded["train"]["compile"] is False and loaded["train"]["compile_scope"] == "model"
    assert loaded["lora"] == {"r": 8, "alpha": 8, "dropout": 0.0}
    config["train"]["epochs"] = 0
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    with pytest.raises(InputError, match=r"^config error: train\.epochs: "):
        load_config(path)


def test_cpu_benchmark_uses_config_yaml_but_for_the_published_figures_settings():
    options = bench.train_options()
    published = {"log_every": 1, "resume_every": 0, "compile": False, "compile_scope": None,
                 "pad_multiple": 1, "eos": True, "tf32": False}
    config = load_config(ROOT / "config.yaml")
    # Timing runs go to no experiment tracker, whatever train.report_to says, and save no
    # resumable state; their data order is the study's one seed (common.train_seed).
    assert options.as_dict() == {**config["train"], **published, "report_to": []}


def test_cpu_benchmark_without_bibleqa_says_where_to_give_it(monkeypatch):
    monkeypatch.delenv(bench.BIBLEQA_ENV, raising=False)
    with pytest.raises(SystemExit, match="no BibleQA 1001.csv: pass --bibleqa PATH or set BIBLEFT_BIBLEQA"):
        bench.main([])
