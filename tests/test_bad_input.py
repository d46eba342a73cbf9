"""Bad input and faults: a clear one-line error, nothing half-written, nothing unsafe loaded."""

from __future__ import annotations

import copy
import http.server
import os
import re
import threading
from pathlib import Path

import pytest
import yaml

from bibleft import asv, fileio
from bibleft.bibleqa import parse_bibleqa
from bibleft.config import load_config
from bibleft.errors import InputError
from bibleft.modeling import check_model_dir
from fixtures import BIBLEQA_LINES, write_bibleqa
from workflow_helpers import ROOT, copy_project, snakemake, tiny_config, with_overlay, write_config

SHIPPED = yaml.safe_load((ROOT / "config.yaml").read_text())


# --- config ---------------------------------------------------------------------------

def check(overrides: dict) -> str:
    config = copy.deepcopy(SHIPPED)
    for dotted, value in overrides.items():
        node = config
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    with pytest.raises(InputError) as err:
        load_config(config)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_shipped_config_is_valid():
    experiment = load_config(copy.deepcopy(SHIPPED))
    assert experiment.train.epochs == 4 and experiment.train.batch_size == 8
    assert experiment.lora.as_dict() == {"r": 8, "alpha": 8, "dropout": 0.0}
    assert experiment.models["gpt2-large"].lora_targets == ["c_attn", "c_proj", "c_fc"]


def test_the_documented_cuda_graph_overlay_is_a_valid_config():
    overlay = yaml.safe_load("train:\n  compile: {full: reduce-overhead, lora: false}\n  pad_multiple: 16\n")
    experiment = load_config({**copy.deepcopy(SHIPPED), "train": {**SHIPPED["train"], **overlay["train"]}})
    assert experiment.train.compile.as_dict() == {"full": "reduce-overhead", "lora": False}
    assert experiment.train.pad_multiple == 16
    assert load_config(copy.deepcopy(SHIPPED)).train.compile is False


@pytest.mark.parametrize("compile_setting", ["reduce-overhead", {"full": False, "lora": "default"}])
def test_gradient_checkpointing_and_compile_are_refused_together(compile_setting):
    # torch.compile of the whole model fails inside dynamo on transformers' checkpointed
    # blocks; compiled blocks under LoRA trained differently from eager (CPU, tiny GPT-2).
    message = check({"train.gradient_checkpointing": True, "train.compile": compile_setting})
    assert message.startswith("config error: train.gradient_checkpointing: true cannot be combined "
                              "with train.compile"), message
    config = copy.deepcopy(SHIPPED)
    config["train"].update(gradient_checkpointing=True, compile={"full": False, "lora": False})
    load_config(config)  # checkpointing alone is fine


@pytest.mark.parametrize("key, value, expected", [
    ("train.epochs", 0, r"train\.epochs: 0 is less than the minimum of 1"),
    ("train.batch_size", -8, r"train\.batch_size: -8 is less than the minimum of 1"),
    ("train.learning_rate", 0, r"train\.learning_rate: 0 is less than or equal to the minimum of 0"),
    ("lora.r", 0, r"lora\.r: 0 is less than the minimum of 1"),
    ("answer.max_new_tokens", 0, r"answer\.max_new_tokens: 0 is less than the minimum of 1"),
    ("train.epochs", "four", r"train\.epochs: 'four' is not of type 'integer'"),
    ("train.precision", "int8", r"train\.precision: 'int8' is not one of \['auto', 'fp32', 'bf16', 'fp16'\]"),
    ("train.compile", "fast", r"train\.compile: 'fast' is not valid; expected one of \[False, True, 'default', "
                              r"'reduce-overhead'.*\] or a mapping with keys full, lora$"),
    ("train.compile", {"full": "fast"}, r"train\.compile\.full: 'fast' is not one of \[False, True"),
    ("train.compile", {"ful": "default"}, r"train\.compile: .*'ful' was unexpected.*allowed keys: full, lora"),
    ("train.pad_multiple", 0, r"train\.pad_multiple: 0 is less than the minimum of 1"),
    ("train.compile_scope", "layers", r"train\.compile_scope: 'layers' is not one of \['model', 'blocks'\]"),
    ("train.epoch", 4, r"train: .*'epoch' was unexpected.*allowed keys: .*epochs"),
    ("run.models", ["gpt2-xxl"], r"run\.models: 'gpt2-xxl' is not in models \(known: gpt2, gpt2-large, gpt2-medium, gpt2-xl, pythia"),
    ("models.bad slug", {"source": "x", "lora_targets": ["c_attn"]}, r"models: 'bad slug' is not a valid name: it becomes a folder, so use letters, digits"),
    ("answer.prompt", "Q: A:", r"answer\.prompt: .*does not match"),
])
def test_config_errors_name_the_key(key, value, expected):
    assert re.search(expected, check({key: value})), check({key: value})


def test_command_line_texts_are_read_as_the_schema_wants():
    """Snakemake passes nested --config values as text: `train={epochs: 2}` gives '2'."""
    config = copy.deepcopy(SHIPPED)
    config["run"]["seeds"] = ["43", "44"]
    config["train"].update(epochs="2", learning_rate="1.0e-4", max_steps="null", compile="false")
    # A setting's overlay is read the same way, once laid over the config.
    config["settings"]["lr"] = {"train": {"learning_rate": "2.0e-4"}, "lora": {"r": "16"}}
    config["answer"].update(limit="5", prompt="Q: {question} 12\nA:", dtype="float32")
    config["probes"] = {"translations": "[kjv]", "verses": "null", "enabled": "false", "texts": {"wiki": "7"}}
    config["lora"] = {"r": "64", "alpha": ["not", "a", "number"]}
    with pytest.raises(InputError, match=r"lora\.alpha: \['not', 'a', 'number'\] is not of type 'number'"):
        load_config(config)
    config["lora"]["alpha"] = "64"
    experiment = load_config(config)
    assert experiment.run.seeds == [43, 44]
    assert (experiment.train.epochs, experiment.train.learning_rate) == (2, 1.0e-4)
    lr = experiment.settings["lr"]
    assert lr.train.learning_rate == 2.0e-4 and lr.lora.r == 16
    assert lr.overlay == {"train": {"learning_rate": "2.0e-4"}, "lora": {"r": "16"}}  # as written
    assert experiment.train.max_steps is None and experiment.train.compile is False
    assert experiment.answer.limit == 5 and experiment.lora.as_dict() == {"r": 64, "alpha": 64, "dropout": 0.0}
    assert experiment.probes.translations == ["kjv"] and experiment.probes.verses is None
    assert experiment.probes.enabled is False
    # Texts the schema takes as text stay text, even when they would read as numbers.
    assert experiment.answer.prompt == "Q: {question} 12\nA:" and experiment.probes.texts == {"wiki": "7"}
    assert config["run"]["seeds"] == ["43", "44"]  # the config itself is left as it is


@pytest.mark.parametrize("value, expected", [
    ("4.5", r"train\.epochs: 4\.5 is not of type 'integer'"),  # read, and still not an integer
    ("four", r"train\.epochs: 'four' is not of type 'integer'"),
    ("", r"train\.epochs: '' is not of type 'integer'"),
    ("[1, 2", r"train\.epochs: '\[1, 2' is not of type 'integer'"),  # not YAML: kept as it is
])
def test_command_line_texts_that_stay_wrong_keep_a_one_line_error(value, expected):
    assert re.search(expected, check({"train.epochs": value})), check({"train.epochs": value})


@pytest.mark.parametrize("key, value, expected", [
    ("train.seed", 43, r"^config error: train\.seed is now run\.seeds"),
    ("run.seeds", [], r"run\.seeds: \[\] should be non-empty"),
    ("run.seeds", [42, 42], r"run\.seeds: .*non-unique"),
    ("run.settings", ["lr"], r"run\.settings: 'lr' is not in settings \(known: paper\)"),
    ("settings.base", {}, r"'base' is reserved"),
    ("settings.lr", {"train": {"learning_rate": -1}}, r"^config error: settings\.lr\.train\.learning_rate: -1 is less than"),
    ("settings.lr", {"train": {"lr": 1}}, r"settings\.lr\.train: .*'lr' was unexpected"),
    ("settings.lr", {"answer": {"limit": 1}}, r"settings\.lr: .*'answer' was unexpected"),
    ("settings.lr", {"data": {"verse_format": "verse"}}, r"settings\.lr\.data\.verse_format: 'verse' is not one of"),
    ("settings.lr", {"train": {"seed": 1}}, r"settings\.lr\.train\.seed is now run\.seeds"),
])
def test_seed_and_setting_errors_name_the_key(key, value, expected):
    assert re.search(expected, check({key: value})), check({key: value})


def test_a_setting_overlays_the_config_and_nothing_else():
    config = copy.deepcopy(SHIPPED)
    config["settings"]["r64"] = {"lora": {"r": 64}, "train": {"epochs": 1}}
    experiment = load_config(config)
    resolved = experiment.settings["r64"]
    assert resolved.lora.as_dict() == {**experiment.lora.as_dict(), "r": 64} and resolved.train.epochs == 1
    assert resolved.train.learning_rate == experiment.train.learning_rate
    assert resolved.data == experiment.data
    assert experiment.lora.r == 8 and experiment.train.epochs == 4  # the config itself is unchanged
    assert config["lora"]["r"] == 8 and config["train"]["epochs"] == 4
    paper = experiment.settings["paper"]
    assert (paper.train, paper.lora, paper.data) == (experiment.train, experiment.lora, experiment.data)


@pytest.mark.parametrize("key, value", [("open_book.enabled", "yes"), ("train.padding_free", "no"),
                                        ("open_book.enabled", "on"), ("train.padding_free", "off")])
def test_a_quoted_yaml_1_1_boolean_is_refused(key, value):
    # YAML 1.2 (and JSON Schema) knows true and false only: "yes" is text, not a boolean.
    assert check({key: value}) == f"config error: {key}: {value!r} is not of type 'boolean'"


def test_true_and_false_typed_as_text_are_booleans():
    config = copy.deepcopy(SHIPPED)
    config["open_book"] = {"enabled": "false"}
    config["train"]["padding_free"] = "false"
    experiment = load_config(config)
    assert experiment.open_book.enabled is False and experiment.train.padding_free is False
    config["open_book"] = {"enabled": "true"}
    assert load_config(config).open_book.enabled is True


@pytest.mark.parametrize("key, prompt", [
    ("open_book.prompt", "Passages:\n{passage}\n\nQ: {question}\nA:"),
    ("answer.prompt", "{passage}\nQ: {question}\nA:"),
])
def test_an_unknown_placeholder_in_a_prompt_is_refused(key, prompt):
    message = check({key: prompt})
    assert message.startswith(f"config error: {key}: "), message
    assert "{passage}" in message, message


def test_load_config_leaves_its_input_as_it_is():
    config = copy.deepcopy(SHIPPED)
    config["settings"]["lr"] = {"train": {"learning_rate": "2.0e-4"}, "lora": {"r": "16"}}
    config["train"].update(epochs="2", max_steps="null")
    config["run"]["seeds"] = ["43", "44"]
    before = copy.deepcopy(config)
    experiment = load_config(config)
    assert experiment.run.seeds == [43, 44] and experiment.train.epochs == 2
    assert config == before
    assert "open_book" not in config and "f1_threshold" not in config["judge"]  # no defaults filled in
    shipped = copy.deepcopy(SHIPPED)
    load_config(shipped)
    assert shipped == SHIPPED


@pytest.mark.e2e
def test_config_error_stops_before_any_job(tmp_path):
    project = copy_project(tmp_path / "project")
    overlay = write_config(tmp_path / "bad.yaml", {"lora": {"r": -1}})
    proc = snakemake(project, "-n", *with_overlay(overlay), check=False)
    assert proc.returncode != 0
    assert "config error: lora.r: -1 is less than the minimum of 1" in proc.stderr
    assert "Traceback" not in proc.stderr and "rule " not in proc.stdout


# --- BibleQA files --------------------------------------------------------------------

def lines_with(index: int, replacement: str) -> list[str]:
    lines = list(BIBLEQA_LINES)
    lines[index] = replacement
    return lines


BAD_BIBLEQA = {
    "empty": (b"", r"empty file"),
    "header only": ("\ufeffQuestions\tANSWERS\r".encode(), r"header only"),
    "no header": ("\r".join(BIBLEQA_LINES[1:]).encode(), r":1: expected the header"),
    "truncated": ("\r".join(BIBLEQA_LINES)[:-12].encode(), r":13: answer of question 36 has no trailing verse reference"),
    "wrong delimiter": ("\r".join(l.replace("\t", ",") for l in BIBLEQA_LINES).encode(), r":1: expected the header"),
    "missing answer column": ("\r".join(lines_with(3, "5. From which part of Adam's body did God create Eve?")).encode(),
                              r":4: missing the answer column"),
    "numbers differ": ("\r".join(lines_with(2, "2. Where did Adam live?\t3. Eden (Gen 2:8)")).encode(),
                       r":3: question number 2 but answer number 3"),
    "duplicate id": ("\r".join(lines_with(2, "1. Again?\t1. Mary (Matt 1:18)")).encode(),
                     r":3: duplicate question id 1 \(first on line 2\)"),
    "undecodable": ("\r".join(BIBLEQA_LINES[:4]).encode() + b"\r7. Caf\xe9?\t7. Serpent (Gen 3:1)\r",
                    r":5: not UTF-8 text"),
}


@pytest.mark.parametrize("case", list(BAD_BIBLEQA))
def test_bad_bibleqa_names_file_and_line(tmp_path, case):
    content, expected = BAD_BIBLEQA[case]
    path = tmp_path / "1001.csv"
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        parse_bibleqa(path)
    assert str(path) in str(err.value)
    assert re.search(expected, str(err.value)), str(err.value)


def test_utf16_with_bom_is_read_correctly(tmp_path):
    utf8 = parse_bibleqa(write_bibleqa(tmp_path / "utf8.csv"))
    utf16 = parse_bibleqa(write_bibleqa(tmp_path / "utf16.csv", encoding="utf-16"))
    assert utf16 == utf8


@pytest.fixture(scope="module")
def data_project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("bad") / "project")


def run_bibleqa(project: Path, tmp_path: Path, bibleqa: dict):
    model = tmp_path / "no-model-needed"
    config = tiny_config(model, tmp_path / "unused.csv")
    config["models"]["tiny-gpt2"]["source"] = "example-org/tiny"  # a Hub id: never fetched here
    config["questions"]["bibleqa"] = bibleqa
    overlay = write_config(tmp_path / "overlay.yaml", config)
    for stale in ("data/questions/bibleqa.jsonl", "data/raw/questions/bibleqa.tsv"):
        (project / stale).unlink(missing_ok=True)
    return snakemake(project, "--cores", "1", "data/questions/bibleqa.jsonl", *with_overlay(overlay), check=False)


@pytest.mark.e2e
def test_bad_bibleqa_through_the_workflow_leaves_no_records(data_project, tmp_path):
    bad = tmp_path / "1001.csv"
    bad.write_bytes("\r".join(lines_with(2, "2. Where?\t3. Eden (Gen 2:8)")).encode())
    proc = run_bibleqa(data_project, tmp_path, {"path": str(bad)})
    assert proc.returncode != 0
    assert "data/raw/questions/bibleqa.tsv:3: question number 2 but answer number 3" in proc.stderr + proc.stdout
    assert not (data_project / "data/questions/bibleqa.jsonl").exists()


@pytest.mark.e2e
def test_sha256_mismatch_leaves_nothing(data_project, tmp_path):
    source = write_bibleqa(tmp_path / "1001.csv")
    proc = run_bibleqa(data_project, tmp_path, {"url": source.as_uri(), "sha256": "0" * 64})
    assert proc.returncode != 0
    assert "sha256 mismatch" in proc.stderr + proc.stdout and source.as_uri() in proc.stderr + proc.stdout
    # One line that names the key for a local copy, repeated after Snakemake's own account.
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error in rule bibleqa_raw: ")]
    assert len(errors) == 2 and errors[0] == errors[1]
    assert "sha256 mismatch" in errors[0]
    assert "set questions.bibleqa.path to a local copy of BibleQA's 1001.csv" in errors[0]
    assert proc.stderr.rindex(errors[0]) > proc.stderr.index("Error in rule bibleqa_raw")
    assert not (data_project / "data/raw/questions/bibleqa.tsv").exists()
    assert not (data_project / "data/questions/bibleqa.jsonl").exists()
    assert not list((data_project / "data/raw/questions").glob(".*tmp"))


@pytest.mark.e2e
def test_good_download_with_checksum(data_project, tmp_path):
    source = write_bibleqa(tmp_path / "1001.csv")
    proc = run_bibleqa(data_project, tmp_path, {"url": source.as_uri(), "sha256": fileio.sha256_of(source)})
    assert proc.returncode == 0, proc.stderr
    assert len(fileio.read_jsonl(data_project / "data/questions/bibleqa.jsonl")) == len(BIBLEQA_LINES) - 1


# --- ASV ------------------------------------------------------------------------------

def test_asv_file_without_verses(tmp_path):
    path = tmp_path / "asv.txt"
    path.write_text("American Standard Version\nnothing else\n")
    with pytest.raises(InputError, match=rf"{re.escape(str(path))}: no verse lines found"):
        asv.verses_from_openbible_text(path)


def test_asv_unparsable_line_after_verses(tmp_path):
    path = tmp_path / "asv.txt"
    path.write_text("Genesis 1:1\tIn the beginning\nGenesis 1:2 And the earth (no tab)\n")
    with pytest.raises(InputError, match=rf"{re.escape(str(path))}:2: not a verse line"):
        asv.verses_from_openbible_text(path)


# --- downloads ------------------------------------------------------------------------

class FlakyHandler(http.server.BaseHTTPRequestHandler):
    failures_left = 0
    body = b"payload"

    def do_GET(self):
        if FlakyHandler.failures_left > 0:
            FlakyHandler.failures_left -= 1
            self.send_error(503)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FlakyHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/file"
    httpd.shutdown()


def test_download_retries_then_succeeds(server, tmp_path):
    FlakyHandler.failures_left = 2
    dest = tmp_path / "out.txt"
    fileio.download(server, dest, sha256=fileio.hashlib.sha256(b"payload").hexdigest(),
                    retries=3, backoff_s=0.01)
    assert dest.read_bytes() == b"payload"
    assert FlakyHandler.failures_left == 0


def test_download_gives_up_naming_the_url(server, tmp_path):
    FlakyHandler.failures_left = 10
    dest = tmp_path / "out.txt"
    with pytest.raises(InputError, match=rf"could not download {re.escape(server)} after 3 tries"):
        fileio.download(server, dest, retries=3, backoff_s=0.01)
    assert list(tmp_path.iterdir()) == []


# --- models ---------------------------------------------------------------------------

def test_missing_model_dir(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        check_model_dir(tmp_path / "nope")


def test_model_dir_without_weights(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(InputError, match=r"has no \*\.safetensors weights"):
        check_model_dir(tmp_path)


def test_pickle_only_model_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(InputError, match="only pickle weights"):
        check_model_dir(tmp_path)


@pytest.mark.e2e
def test_bad_model_dir_stops_the_workflow_before_any_job(tmp_path, tiny_gpt2):
    project = copy_project(tmp_path / "project")
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text("{}")
    (pickled / "pytorch_model.bin").write_bytes(b"x")
    overlay = write_config(tmp_path / "o.yaml", tiny_config(pickled, tmp_path / "qa.csv"))
    proc = snakemake(project, "-n", *with_overlay(overlay), check=False)
    assert proc.returncode != 0
    assert "config error: models.tiny-gpt2.source: model directory" in proc.stderr
    assert "only pickle weights" in proc.stderr


@pytest.mark.parametrize("entry, expected", [
    ({"source": "openai-community/gpt2-large; rm -rf /"},
     "config error: models.tiny-gpt2.source: 'openai-community/gpt2-large; rm -rf /' is neither an existing "
     "local path, a .gguf file nor a valid Hub id (Repo id must be in the form 'repo_name' or "
     "'namespace/repo_name')\n"),
    ({"source": "openai-community/gpt2-large", "revision": "main; rm -rf /"},
     "config error: models.tiny-gpt2.revision: 'main; rm -rf /' is not a Hub revision: expected a commit "
     "hash, branch or tag"),
])
@pytest.mark.e2e
def test_malformed_hub_source_stops_the_workflow_before_any_job(tmp_path, entry, expected):
    # Before, both passed the config check and failed in the job with a traceback.
    project = copy_project(tmp_path / "project")
    config = tiny_config(tmp_path / "unused", tmp_path / "qa.csv")
    config["models"]["tiny-gpt2"].update(entry)
    overlay = write_config(tmp_path / "o.yaml", config)
    proc = snakemake(project, "-n", *with_overlay(overlay), check=False)
    assert proc.returncode != 0
    assert expected in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "prepare_model" not in proc.stdout + proc.stderr


def test_trust_remote_code_is_off_unless_asked():
    experiment = load_config(copy.deepcopy(SHIPPED))
    assert experiment.models["gpt2-large"].trust_remote_code is False


# --- partial outputs and shells -------------------------------------------------------

def test_interrupted_writes_leave_nothing(tmp_path):
    target_dir = tmp_path / "model"
    with pytest.raises(RuntimeError):
        with fileio.atomic_dir(target_dir) as tmp:
            (tmp / "model.safetensors").write_bytes(b"half")
            raise RuntimeError("killed")
    target_file = tmp_path / "table.csv"
    with pytest.raises(RuntimeError):
        with fileio.atomic_path(target_file) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_finished_outputs_have_ordinary_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        with fileio.atomic_path(tmp_path / "table.csv") as tmp:
            tmp.write_text("done")
        with fileio.atomic_dir(tmp_path / "model") as tmp:
            (tmp / "config.json").write_text("{}")
    finally:
        os.umask(mask)
    assert (tmp_path / "table.csv").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o755


def test_no_rule_runs_a_shell():
    # Config strings (slugs, paths, prompts) reach scripts as values, never through a shell.
    for smk in (ROOT / "rules").glob("*.smk"):
        text = smk.read_text()
        assert not re.search(r"^\s+(shell|run):", text, re.M), smk


def test_a_one_of_error_names_the_branches_its_key_takes():
    # probes.books is a list of book names or null: a lone name is most likely meant as the
    # list's one item, and the message must not borrow another key's "positive integer".
    assert check({"probes.books": "Ruth"}) == (
        "config error: probes.books: 'Ruth' is not valid; expected a list of texts "
        "(e.g. books: [Ruth]) or null")
    assert check({"probes.books": 5}) == (
        "config error: probes.books: 5 is not valid; expected a list of texts "
        "(e.g. books: [...]) or null")
    # Keys whose oneOf is [posint, null], and one of [posnum, null], say so.
    assert check({"probes.verses": "all"}) == (
        "config error: probes.verses: 'all' is not valid; expected a positive integer or null")
    assert check({"train.max_steps": "soon"}) == (
        "config error: train.max_steps: 'soon' is not valid; expected a positive integer or null")
    assert check({"train.max_grad_norm": "x"}) == (
        "config error: train.max_grad_norm: 'x' is not valid; expected a positive number or null")
    # A number out of a posint's range gets the branch's own error, not the oneOf's.
    assert check({"probes.verses": -3}) == "config error: probes.verses: -3 is less than the minimum of 1"
