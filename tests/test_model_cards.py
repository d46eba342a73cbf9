"""Every fine-tune's folder carries a model card that Hugging Face tools read, and loads
from any folder with the plain Auto classes: a full fine-tune by itself, an adapter
through the base model its adapter_config.json names (the Hub id at the resolved commit
when the base came from the Hub, else the base folder's absolute path).

No test touches the network: the Hub base is simulated by a local base folder whose
provenance.json says kind hub (as hub.download_model writes it), and loading it "from the
Hub" reads an offline Hugging Face cache laid out as huggingface_hub lays it out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard

from bibleft.asv import Verse
from bibleft.corpus import save_dataset, tokenize_verses
from bibleft.cards import model_card
from bibleft.finetuning import finetune
from bibleft.generate import load_for_generation
from bibleft.grid import FineTune
from bibleft.modeling import load_tokenizer
from fixtures import finetune_job, make_tiny_gpt2, train_options

# A real Hub id (its license is known: MIT) standing for the tiny model, at a made-up commit.
REPO = "openai-community/gpt2"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER_COMMIT = "f" * 40  # what `main` points at in the simulated cache: other weights
SEED = 3
VERSES = ["In the beginning God created the heavens and the earth.",
          "And the earth was waste and void; and darkness was upon the face of the deep.",
          "And God said, Let there be light: and there was light.",
          "And God saw the light, that it was good."]
IDS = [[464, 3726, 286, 1793, 2727, 262, 24541]]  # any few tokens to compare logits on


@pytest.fixture(scope="module")
def runs(tiny_gpt2, tmp_path_factory) -> dict[str, Path]:
    """A workflow-like folder (models/, data/, checkpoints/) with a full fine-tune and an
    adapter of a base "from the Hub" and an adapter of a local base, each trained by
    finetuning.finetune from paths relative to the folder, as Snakemake passes them."""
    root = tmp_path_factory.mktemp("cards")
    hub_base, local_base = root / "models" / "hub-tiny", root / "models" / "local-tiny"
    shutil.copytree(tiny_gpt2, hub_base)
    shutil.copytree(tiny_gpt2, local_base)
    (hub_base / "provenance.json").write_text(json.dumps(
        {"kind": "hub", "source": REPO, "revision": None, "commit": COMMIT,
         "downloaded_utc": "2026-01-01T00:00:00+00:00", "huggingface_hub": "test"}))
    tokenizer = load_tokenizer(tiny_gpt2)
    verses = [Verse("Genesis", 1, i % 4 + 1, VERSES[i % 4]) for i in range(16)]
    save_dataset(tokenize_verses(verses, tokenizer, "reference_text"), root / "data" / "tokenized", 1)
    found = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        for name, model, method in [("hub-full", "hub-tiny", "full"), ("hub-lora", "hub-tiny", "lora"),
                                    ("local-lora", "local-tiny", "lora")]:
            ft = FineTune(model, "paper", SEED, method)
            finetune(finetune_job(ft, f"models/{model}", "data/tokenized", ft.checkpoint_dir,
                                  train_options(learning_rate=1e-2)))
            found[name] = root / ft.checkpoint_dir
    return {"root": root, "hub-base": hub_base, "local-base": local_base, **found}


def card_of(folder: Path) -> tuple[dict, str]:
    card = ModelCard.load(folder / "README.md")  # huggingface_hub reads the front matter
    return card.data.to_dict(), card.text


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor(IDS)).logits[0, -1]


def test_full_fine_tune_card(runs):
    data, text = card_of(runs["hub-full"])
    assert data["base_model"] == REPO and data["base_model_relation"] == "finetune"
    assert data["library_name"] == "transformers" and data["license"] == "mit"
    assert data["pipeline_tag"] == "text-generation" and "full-fine-tune" in data["tags"]
    summary = json.loads((runs["hub-full"] / "train_summary.json").read_text())
    assert f"`{REPO}` from the Hugging Face Hub, commit `{COMMIT}`" in text
    assert f"seed {SEED}" in text and f"{summary['steps']} steps" in text
    assert f"final loss {summary['final_loss']:.4f}" in text
    assert "16 examples were trained on" in text
    assert "16 examples, from `Genesis 1:1` to `Genesis 1:4`" in text
    assert '`"Genesis 1:1\\tIn the beginning' in text and "(`train.eos: true`)" in text
    assert "| `learning_rate` | `0.01` |" in text
    assert f"results/hub-tiny/paper/seed{SEED}/scores.csv" in text and "results/hub-tiny/" in text
    assert "More Information Needed" not in text


def test_adapter_names_its_hub_base_by_id_and_commit(runs):
    config = json.loads((runs["hub-lora"] / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == REPO and config["revision"] == COMMIT
    data, text = card_of(runs["hub-lora"])
    assert data["base_model"] == REPO and data["base_model_relation"] == "adapter"
    assert data["library_name"] == "peft" and "lora" in data["tags"]
    assert "AutoPeftModelForCausalLM.from_pretrained" in text and "More Information Needed" not in text
    assert "| `lora.r` | `4` |" in text and "c_attn" in text


def test_adapter_of_a_local_base_names_its_absolute_folder(runs):
    config = json.loads((runs["local-lora"] / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(runs["local-base"]) and config["revision"] is None
    # Only the base model differs between the two adapters' configs.
    hub = json.loads((runs["hub-lora"] / "adapter_config.json").read_text())
    assert {k: v for k, v in hub.items() if k not in ("base_model_name_or_path", "revision")} == \
        {k: v for k, v in config.items() if k not in ("base_model_name_or_path", "revision")}
    data, text = card_of(runs["local-lora"])
    assert "base_model" not in data and "license" not in data  # no Hub id, no known terms
    assert f"the local model folder `{runs['local-base']}`" in text
    assert "PeftModel.from_pretrained(base, " in text  # what to pass where the folder is gone


def test_the_workflow_still_merges_an_adapter_that_names_a_hub_id(runs):
    """generate.load_for_generation gives peft the base model object (models/<slug>), so
    the Hub id in adapter_config.json is never fetched; the merged model is the adapted one."""
    from peft import PeftModel

    merged = load_for_generation(runs["hub-base"], runs["hub-lora"])
    base = load_for_generation(runs["hub-base"])
    unmerged = PeftModel.from_pretrained(load_for_generation(runs["hub-base"]), str(runs["hub-lora"]))
    assert torch.allclose(logits(merged), logits(unmerged.eval()), atol=1e-5)
    assert not torch.allclose(logits(merged), logits(base), atol=1e-4)  # the adapter trained


def test_model_card_without_a_logged_loss(runs):
    job = finetune_job(FineTune("m", "paper", SEED, "full"), runs["local-base"], "missing", "out",
                       train_options())
    card = model_card(job, {"base_model": {"kind": "local", "source": "/x"}, "steps": 0,
                            "final_loss": float("nan")})
    assert "final loss none logged" in card and "base_model:" not in card


LOAD = textwrap.dedent("""
    import json, sys
    import torch
    from peft import AutoPeftModelForCausalLM, PeftModel
    from transformers import AutoModelForCausalLM

    full, hub_lora, local_lora, moved_base = sys.argv[1:5]
    ids = torch.tensor(json.loads(sys.argv[5]))

    def last(model):
        with torch.no_grad():
            return model.eval()(ids).logits[0, -1].tolist()

    hub = AutoPeftModelForCausalLM.from_pretrained(hub_lora)
    print(json.dumps({
        "full": last(AutoModelForCausalLM.from_pretrained(full)),
        "hub_lora": last(hub),
        "hub_base": hub.get_base_model().config._name_or_path,
        "local_lora": last(AutoPeftModelForCausalLM.from_pretrained(local_lora)),
        "moved": last(PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(moved_base), local_lora)),
    }))
""")


def hub_cache(cache: Path, base: Path, other: Path) -> None:
    """An offline Hugging Face cache holding REPO at COMMIT (the base the adapter trained
    on) and, as `main`, other weights: loading the wrong revision changes the logits."""
    repo = cache / ("models--" + REPO.replace("/", "--"))
    for commit, folder in [(COMMIT, base), (OTHER_COMMIT, other)]:
        shutil.copytree(folder, repo / "snapshots" / commit, ignore=shutil.ignore_patterns("provenance.json"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(OTHER_COMMIT)


@pytest.mark.e2e
def test_checkpoints_load_from_another_folder_with_the_auto_classes(runs, tmp_path):
    """The must-show: each folder copied elsewhere and loaded, in a fresh process working
    in yet another folder, with the plain Auto classes and no arguments."""
    elsewhere = tmp_path / "elsewhere"
    copies = {name: shutil.copytree(runs[name], elsewhere / name)
              for name in ("hub-full", "hub-lora", "local-lora")}
    moved_base = shutil.copytree(runs["local-base"], elsewhere / "base")
    hub_cache(tmp_path / "hf-cache", runs["hub-base"], make_tiny_gpt2(tmp_path / "other", seed=1))
    (tmp_path / "cwd").mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hf-cache"),
           "PYTHONPATH": "", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", LOAD, *map(str, copies.values()), str(moved_base),
                           json.dumps(IDS)], cwd=tmp_path / "cwd", env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])

    # The same numbers as the workflow's own loading, in the workflow's folder.
    expected = {"full": logits(load_for_generation(runs["hub-full"])),
                "hub_lora": logits(load_for_generation(runs["hub-base"], runs["hub-lora"])),
                "local_lora": logits(load_for_generation(runs["local-base"], runs["local-lora"]))}
    expected["moved"] = expected["local_lora"]
    for name, want in expected.items():
        assert torch.allclose(torch.tensor(loaded[name]), want, atol=1e-4), name
    # Fetched by id at the adapter's commit: `main` holds other weights, which would have
    # given other logits than the base the adapter was trained on.
    assert loaded["hub_base"] == REPO
