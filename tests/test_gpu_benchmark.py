"""benchmarks/gpu.py runs each compiled measurement in a process of its own, so that a
crash or a hang (a CUDA-graphs run once ended in a segfault and took every figure with it)
costs that measurement only. Checked on the CPU with its --smoke model."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from workflow_helpers import ROOT

spec = importlib.util.spec_from_file_location("gpu_bench", ROOT / "benchmarks" / "gpu.py")
gpu = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = gpu  # before it runs: its dataclass looks its module up
spec.loader.exec_module(gpu)
load_config = gpu.common.load_workflow_config


def test_compiled_specs_name_method_mode_and_scope():
    assert gpu.compiled_specs("lora:reduce-overhead:blocks,full:default") == [
        ("lora", "reduce-overhead", "blocks"), ("full", "default", "model")]
    assert gpu.compiled_specs("") == []
    for bad in ["lora", "qlora:default", "lora::blocks", "lora:default:layers", "lora:a:blocks:x"]:
        with pytest.raises(SystemExit, match=f"--compiled '{bad}': expected METHOD:MODE"):
            gpu.compiled_specs(bad)


def test_settings_come_from_config_yaml_as_prepared_and_a_later_edit_is_refused(tmp_path, monkeypatch):
    config = tmp_path / "config.yaml"
    config.write_text((ROOT / "config.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(gpu, "CONFIG", config)
    with pytest.raises(SystemExit, match="config.json: missing; run `benchmarks/gpu.py --prepare`"):
        gpu.load_prepared_config(tmp_path)
    gpu.prepare_config(tmp_path)
    prepared = gpu.load_prepared_config(tmp_path)
    assert prepared == load_config(config)  # validated, the defaults filled in
    options = gpu.common.train_options(prepared)  # what the GPU machine builds from it
    # config.yaml's values, but for the benchmark's stated overrides.
    overrides = {"resume_every": 0, "compile": False, "compile_scope": None, "pad_multiple": 1,
                 "report_to": []}
    assert options.as_dict() == {**prepared["train"], **overrides}
    config.write_text(config.read_text(encoding="utf-8").replace("epochs: 4", "epochs: 3"), encoding="utf-8")
    with pytest.raises(SystemExit, match="changed after `benchmarks/gpu.py --prepare`.*run --prepare again"):
        gpu.load_prepared_config(tmp_path)


def test_run_isolated_reports_a_crashed_or_hung_child_and_the_parent_goes_on(tmp_path):
    result = tmp_path / "row.json"
    segfault = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]
    assert gpu.run_isolated(segfault, result, None) == (None, "killed by SIGSEGV, no result")
    hang = [sys.executable, "-c", "import time; time.sleep(60)"]
    assert gpu.run_isolated(hang, result, 1) == (None, "killed after 1 s (--run-timeout)")
    ok = [sys.executable, "-c", f"open({str(result)!r}, 'w').write('{{\"row\": {{\"name\": \"x\"}}}}')"]
    assert gpu.run_isolated(ok, result, None) == ({"name": "x"}, None)
    # A result left by an earlier child does not pass for this one's.
    assert gpu.run_isolated([sys.executable, "-c", "raise SystemExit(3)"], result, None) == (
        None, "exit status 3, no result")


@pytest.mark.e2e
def test_smoke_run_records_each_compiled_run_or_its_failure(tmp_path):
    data = tmp_path / "gpu-bench"
    script = str(ROOT / "benchmarks" / "gpu.py")
    subprocess.run([sys.executable, script, "--prepare", "--data-dir", str(data)], check=True,
                   capture_output=True)
    out = tmp_path / "gpu.json"
    proc = subprocess.run(
        [sys.executable, script, "--smoke", "--data-dir", str(data), "--no-eager",
         "--fixed-steps", "0", "--gen-batch-sizes", "", "--single-prompts", "0", "--out", str(out),
         "--compiled", "full:no-such-mode:blocks,lora:reduce-overhead:blocks"],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    # The first run failed in its own process; the second still ran and was recorded.
    [failed] = results["failed"]
    assert failed["name"] == "full:no-such-mode:blocks"
    assert "Unrecognized mode=no-such-mode" in failed["error"]
    [lora] = results["runs"]  # --no-eager --fixed-steps 0: the compiled run only
    assert lora["compile_scope"] == "blocks" and lora["pad_multiple"] == 16
    assert lora["compile"]["mode"] == "reduce-overhead" and lora["compile"]["graph_breaks"] == 0
    # Two block graphs (the first block's input needs no gradient), compiled once for every
    # length: a recompile at a new length would add graphs (and minutes on the GPU).
    assert lora["compile"]["graphs"] == 2
    assert lora["steps_timed"] == 2 and lora["trainable_params"] > 0
    assert "full:no-such-mode:blocks: FAILED after" in proc.stdout
    # The training settings are config.yaml's, through the same checks as the workflow's.
    config = load_config(ROOT / "config.yaml")
    assert results["settings"] == gpu.common.train_options(config).as_dict()
    assert results["lora"] == {**config["lora"], "targets": config["models"]["gpt2-large"]["lora_targets"]}
