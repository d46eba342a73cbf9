"""benchmarks/same_outputs.py: the before/after comparison a reviewer reruns."""

from __future__ import annotations

import importlib.util

from workflow_helpers import ROOT

spec = importlib.util.spec_from_file_location("same_outputs", ROOT / "benchmarks" / "same_outputs.py")
same_outputs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(same_outputs)


def make_project(base, files: dict[str, bytes]):
    for rel, data in files.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_bytes(data)
    return base


RUN = "results/tiny/paper/seed42"
SHARED = {
    f"{RUN}/predictions/full.jsonl": b'{"id": 1, "correct": true}\n',
    f"{RUN}/generations/full.timing.json": b'{"seconds": 1.5}',
    f"{RUN}/timing.csv": b"variant,seconds\nfull,1.5\n",
    "checkpoints/tiny/paper/seed42/full/model.safetensors": b"\x00\x01",
    "logs/finetune.log": b"started at 04:00",
}


def test_identical_runs_with_other_timings_pass(tmp_path, capsys):
    before = make_project(tmp_path / "before", SHARED)
    after = make_project(tmp_path / "after", {
        **SHARED,
        f"{RUN}/generations/full.timing.json": b'{"seconds": 2.5}',
        f"{RUN}/timing.csv": b"variant,seconds\nfull,2.5\n",
        "logs/finetune.log": b"started at 05:00",   # logs/ is not compared
    })
    assert dict(same_outputs.compare(before, after)) == {
        f"{RUN}/predictions/full.jsonl": "same",
        f"{RUN}/generations/full.timing.json": "differs (timings)",
        f"{RUN}/timing.csv": "differs (timings)",
        "checkpoints/tiny/paper/seed42/full/model.safetensors": "same",
    }
    assert same_outputs.main([str(before), str(after)]) == 0
    assert "2 differs (timings), 2 same" in capsys.readouterr().out


def test_a_changed_weight_or_a_missing_file_fails(tmp_path, capsys):
    before = make_project(tmp_path / "before", SHARED)
    changed = {**SHARED, "checkpoints/tiny/paper/seed42/full/model.safetensors": b"\x00\x02"}
    del changed[f"{RUN}/predictions/full.jsonl"]
    after = make_project(tmp_path / "after", {**changed, f"{RUN}/predictions/lora.jsonl": b"{}\n"})
    verdicts = dict(same_outputs.compare(before, after))
    assert verdicts["checkpoints/tiny/paper/seed42/full/model.safetensors"] == "differs"
    assert verdicts[f"{RUN}/predictions/full.jsonl"] == "only in before"
    assert verdicts[f"{RUN}/predictions/lora.jsonl"] == "only in after"
    assert same_outputs.main([str(before), str(after)]) == 1
    out = capsys.readouterr().out
    assert "differs            checkpoints/tiny/paper/seed42/full/model.safetensors" in out


def test_an_old_layout_run_is_compared_file_by_file_with_the_new_layouts(tmp_path, capsys):
    # The layout before 2026-12-07 (answers in <run>/<kind>/, open book in open/<book>/, the
    # base model's other question sets in base/questions/<set>/, a fine-tune's probes in
    # probes/<method>.jsonl), each file where the new layout puts it.
    old = {"results/m/base/generations/base.jsonl": b"a", "results/m/base/predictions/base.jsonl": b"b",
           "results/m/base/open/asv/predictions/base.jsonl": b"c",
           "results/m/base/questions/people/predictions/base.jsonl": b"d",
           "results/m/base/questions/people/open/people/predictions/base.jsonl": b"e",
           "results/m/paper/seed42/predictions/full.jsonl": b"f",
           "results/m/control/seed42/open/people/predictions/lora.jsonl": b"g",
           "results/m/paper/seed42/probes/full.jsonl": b"h",
           "results/m/base/probes/asv/base.jsonl": b"i", "results/m/paper/seed42/scores.csv": b"j"}
    new = {"results/m/base/bibleqa/closed/generations/base.jsonl": b"a",
           "results/m/base/bibleqa/closed/predictions/base.jsonl": b"b",
           "results/m/base/bibleqa/open-asv/predictions/base.jsonl": b"c",
           "results/m/base/people/closed/predictions/base.jsonl": b"d",
           "results/m/base/people/open-people/predictions/base.jsonl": b"e",
           "results/m/paper/seed42/bibleqa/closed/predictions/full.jsonl": b"f",
           "results/m/control/seed42/people/open-people/predictions/lora.jsonl": b"g",
           "results/m/paper/seed42/probes/asv/full.jsonl": b"h",
           "results/m/base/probes/asv/base.jsonl": b"i", "results/m/paper/seed42/scores.csv": b"j"}
    before, after = make_project(tmp_path / "before", old), make_project(tmp_path / "after", new)
    assert set(dict(same_outputs.compare(before, after, questions="bibleqa")).values()) == {"same"}
    assert same_outputs.main([str(before), str(after), "--old-layout"]) == 0
    # Without the mapping, the moved files are each only in one run.
    assert same_outputs.main([str(before), str(after)]) == 1
    after_changed = make_project(tmp_path / "changed", {**new, "results/m/base/people/closed/predictions/base.jsonl": b"X"})
    verdicts = dict(same_outputs.compare(before, after_changed, questions="bibleqa"))
    assert verdicts["results/m/base/people/closed/predictions/base.jsonl"] == "differs"


def test_an_adapter_config_is_compared_as_what_it_says(tmp_path):
    # peft writes target_modules from a set (its order changes between processes) and the
    # base model's absolute folder: both runs' configs say the same.
    import json

    def project(name, modules, extra=None):
        base = tmp_path / name
        config = {"target_modules": modules, "r": 8,
                  "base_model_name_or_path": str((base / "models/m").resolve()), **(extra or {})}
        return make_project(base, {"checkpoints/m/paper/seed42/lora/adapter_config.json":
                                   json.dumps(config).encode()})

    before = project("before", ["q_proj", "v_proj"])
    assert dict(same_outputs.compare(before, project("after", ["v_proj", "q_proj"]))) == {
        "checkpoints/m/paper/seed42/lora/adapter_config.json": "same (as json)"}
    other_rank = project("other", ["q_proj", "v_proj"], {"r": 16})
    assert dict(same_outputs.compare(before, other_rank)) == {
        "checkpoints/m/paper/seed42/lora/adapter_config.json": "differs"}
