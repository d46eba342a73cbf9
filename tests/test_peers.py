"""benchmarks/peers.py (the workflow's training and answering beside transformers' Trainer,
lm-evaluation-harness and a plain pipeline) and benchmarks/gpu_workflow_check.py (the
workflow's DAG on a GPU), checked on the CPU with the tiny GPT-2."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from bibleft.config import deep_merge
from fixtures import LORA_TARGETS, write_bibleqa
from workflow_helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import common  # noqa: E402
import gpu_workflow_check  # noqa: E402
import peers  # noqa: E402


def demo_examples(tiny_gpt2, tmp_path, count: int = 48):
    from bibleft.modeling import load_tokenizer

    config = common.load_demo_config()
    examples = common.slice_examples(common.load_verses(None), load_tokenizer(tiny_gpt2), config)
    path = tmp_path / "examples.json"
    path.write_text(json.dumps(examples[:count]))
    return config, path


def test_the_demo_config_is_config_yaml_under_the_demo_profile():
    config = common.load_demo_config()
    corpus = common.training_corpus(config)
    assert config["run"]["models"] == [common.DEMO_MODEL]
    assert (corpus["books"], corpus["max_verses"]) == (["Genesis"], 400)
    assert config["train"]["batch_size"] == 8 and config["train"]["learning_rate"] == 5e-5
    assert config["answer"]["batch_size"] == 64 and config["answer"]["max_new_tokens"] == 15
    # nested mappings merge, lists replace
    assert deep_merge({"a": {"b": 1, "c": [1]}}, {"a": {"c": [2]}}) == {"a": {"b": 1, "c": [2]}}


def test_a_window_is_the_steps_after_the_warm_up():
    figures = peers.window_figures([1.0, 3.0, 5.0], [0.5, 1.5, 2.5], [10, 20, 30], [16, 40, 40])
    assert figures["steps_timed"] == 2 and figures["real_tokens"] == 50
    assert figures["tokens_per_s"] == 50 / 4 and figures["tokens_per_cpu_s"] == 50 / 2
    assert figures["padding_share"] == pytest.approx(1 - 50 / 80)


@pytest.mark.e2e
@pytest.mark.parametrize("method", ["full", "lora"])
def test_ours_and_the_trainer_train_alike(tiny_gpt2, tmp_path, method):
    """The same verses, seed, batch size and learning rate: the same trained model in
    distribution (the batches come in other orders), and the Trainer with every verse
    padded to 512 draws the same batches as with dynamic padding, to the same losses."""
    config, examples = demo_examples(tiny_gpt2, tmp_path)
    args = peers.argparse.Namespace(steps=2, eval_verses=16)
    prepared = {"model_dir": tiny_gpt2, "examples": examples, "n_examples": 48,
                "lora_targets": LORA_TARGETS}
    spec = {**peers.train_spec(prepared, config, args, method), "threads": 1}
    ours = peers.worker_train_ours(spec)
    trainer = peers.worker_train_trainer({**peers.trainer_spec(spec, 2, None), "threads": 1})
    fixed = peers.worker_train_trainer({**peers.trainer_spec(spec, 1, peers.FIXED_LENGTH),
                                        "threads": 1})
    for run in (ours, trainer, fixed):
        assert len(run["losses"]) == run["steps_timed"] + 1 and run["real_tokens"] > 0
    assert ours["steps_timed"] == trainer["steps_timed"] == 2
    assert ours["trainable"] == trainer["trainable"]
    assert (ours["trainable"] < ours["total"]) == (method == "lora")
    # A random model's loss is ~ln(50257) = 10.8 whatever it saw; after 3 steps at 5e-5
    # both runs are still there, and measured on the same verses they agree closely.
    assert ours["eval_loss"] == pytest.approx(trainer["eval_loss"], rel=1e-3)
    assert fixed["tokens_per_step"] == trainer["tokens_per_step"][:2]
    # The same batches; GPT-2's dropout draws other masks for other shapes, hence rel=1e-3.
    assert fixed["losses"] == pytest.approx(trainer["losses"][:2], rel=1e-3)
    assert fixed["padding_share"] > 0.9 > trainer["padding_share"]


@pytest.mark.e2e
def test_the_pipeline_answers_as_ours(tiny_gpt2, tmp_path):
    from bibleft.bibleqa import parse_bibleqa
    from bibleft.fileio import write_jsonl

    questions = tmp_path / "bibleqa.jsonl"
    write_jsonl(questions, parse_bibleqa(write_bibleqa(tmp_path / "1001.csv")))
    config = common.load_demo_config()
    spec = {"model_dir": str(tiny_gpt2), "questions": str(questions), "limit": 5,
            "prompt": config["answer"]["prompt"], "max_new_tokens": 15, "batch_size": 4, "threads": 1}
    ours = peers.worker_answer_ours(spec)
    pipeline = peers.worker_answer_pipeline(spec)
    assert len(ours["responses"]) == 5
    assert pipeline["responses"] == ours["responses"]


@pytest.mark.e2e
def test_a_small_run_writes_the_tables_ratios_and_json(tiny_gpt2, tmp_path, capsys):
    """peers.py end to end, each contender in a process of its own; the harness too where
    its environment (.venv-lmeval) is installed."""
    out = tmp_path / "peers.json"
    harness = peers.harness_versions(peers.HARNESS_PYTHON) is not None
    results = peers.main(["--model-dir", str(tiny_gpt2), "--bibleqa",
                          str(write_bibleqa(tmp_path / "1001.csv")), "--limit", "3", "--steps", "1",
                          "--fixed-steps", "1", "--methods", "lora",
                          "--eval-verses", "8",
                          "--harness-batch-sizes", "1" if harness else "",
                          "--workdir", str(tmp_path / "work"), "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(results))
    rows = results["training"]["rows"]
    assert set(rows) == {"ours lora", "Trainer lora", "Trainer 512 lora", "ours padded lora"}
    assert set(results["training"]["ratios"]) == {"lora vs Trainer", "lora vs Trainer 512",
                                                  "lora vs ours padded"}
    # The workflow's training is padding-free; the padded run draws the same batches: the
    # same losses, step by step (up to the tiny GPT-2's dropout, whose masks differ with
    # the batch's shape), with fewer positions computed.
    assert rows["ours lora"]["summary"]["batches"] == "padding-free"
    assert rows["ours padded lora"]["summary"]["batches"] == "padded"
    assert rows["ours lora"]["padding_share"] == 0 < rows["ours padded lora"]["padding_share"]
    ours, padded = (rows[k]["losses"] for k in ("ours lora", "ours padded lora"))
    assert len(ours) == len(padded) == 2 and ours == pytest.approx(padded, abs=1e-2)
    answering = results["answering"]
    assert set(answering["rows"]) == {"ours", "pipeline"} | ({"harness bs1"} if harness else set())
    for name, row in answering["rows"].items():
        assert row["answers"] == 3 and row["identical_to_ours"] == 3, name
    assert results["command"].endswith(str(out)) and results["versions"]["torch"]
    printed = capsys.readouterr().out
    assert "ratio lora vs Trainer 512: real tokens per CPU-second" in printed
    assert "ratio ours vs pipeline: answers per CPU-second" in printed


def test_the_wheels_and_the_gpu_image_cover_every_import_of_the_workflow():
    if importlib.util.find_spec("packaging") is None:
        pytest.skip("packaging is not installed")
    pins = gpu_workflow_check.wheel_pins()
    # pydantic: the workflow's typed config (bibleft.config); jsonschema: Snakemake's own
    assert {"snakemake", "pydantic", "jsonschema", "datasets", "matplotlib-venn"} <= set(pins)
    assert "pulp" not in pins and "torch" not in pins
    assert gpu_workflow_check.uncovered_imports() == []


def test_the_gpu_machine_is_read_from_its_file_and_a_bad_one_named_in_one_line(tmp_path):
    target = gpu_workflow_check.machine()
    assert gpu_workflow_check.MACHINE_FILE.name == "gpu_workflow_check.yaml"
    assert {"torch", "transformers"} <= target["image"] and "snakemake" not in target["image"]
    assert target["markers"]["python_version"] == "3.12" and "pulp" in target["not_carried"]
    text = gpu_workflow_check.MACHINE_FILE.read_text(encoding="utf-8")
    cases = {"absent.yaml": None,
             "no-image.yaml": text[:text.index("image:")],
             "bad-cores.yaml": text.replace("cores: 16", "cores: sixteen"),
             "float-version.yaml": text.replace('python_version: "3.12"', "python_version: 3.12"),
             "no-machine.yaml": text.replace("  platform_machine: x86_64\n", ""),
             "not-yaml.yaml": text.replace("platforms: [", "platforms: [[")}
    expected = {"absent.yaml": "missing; it describes the GPU machine",
                "no-image.yaml": "image: missing; expected a list of distribution names",
                "bad-cores.yaml": "cores: expected a whole number of CPU cores",
                "float-version.yaml": "markers: expected a mapping of environment marker names",
                "no-machine.yaml": "markers.platform_machine: missing",
                "not-yaml.yaml": "not valid YAML at line"}
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_text(content, encoding="utf-8")
        with pytest.raises(SystemExit) as stopped:
            gpu_workflow_check.machine(path)
        message = str(stopped.value)
        assert message.startswith(f"{path}: ") and expected[name] in message, message
        assert "\n" not in message


@pytest.mark.e2e
def test_the_gpu_workflow_check_runs_on_the_cpu(tmp_path):
    """--smoke: the whole check (both snakemake passes, every check) with a tiny GPT-2."""
    out = tmp_path / "check.json"
    assert gpu_workflow_check.main(["--smoke", "--out", str(out), "--workdir", str(tmp_path),
                                    "--cores", "2"]) == 0
    report = json.loads(out.read_text())
    assert report["ok"] and report["device"] == "cpu"
    assert {c["check"] for c in report["checks"] if c["ok"]} >= {
        "snakemake, every rule of the default target", "the fine-tunes ran on cpu",
        "batched answers (batch 32, prefix cache) = one at a time"}
    assert report["identical"]["lora"]["identical"] == report["identical"]["lora"]["questions"] == 6
