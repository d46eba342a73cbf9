"""The model registries (`models:` in config.yaml and in the demo's profiles/demo/demo.yaml):
every entry's LoRA targets are modules of its architecture, and peft adapts exactly those.

Offline: each architecture is built from its config class with random weights, one block
or two and a few dozen dimensions; module names do not depend on the sizes.
"""

from pathlib import Path

import pytest
import yaml

from bibleft.modeling import build_trainable
from bibleft.config import LoraOptions

ROOT = Path(__file__).resolve().parents[1]
REGISTRIES = [ROOT / "config.yaml", ROOT / "profiles" / "demo" / "demo.yaml"]

TINY = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 2, "vocab_size": 128}


def tiny_config(architecture: str):
    """A small config of the architecture (a transformers config class's name)."""
    import transformers

    config_class = getattr(transformers, architecture)
    if architecture == "GPT2Config":
        return config_class(n_layer=2, n_embd=32, n_head=2, n_positions=64, vocab_size=128)
    if architecture == "GPTNeoXConfig":
        return config_class(**TINY)
    # Llama, Qwen2 and Gemma 3: grouped-query attention (one key/value head, as the real ones
    # have fewer key/value heads than query heads).
    return config_class(**TINY, num_key_value_heads=1, head_dim=16)


# A registry slug's family, by prefix: its architecture's config class, and the tokenizer
# key every size of the family shares (one tokenized corpus for all of them).
FAMILIES = {
    "gpt2": ("GPT2Config", "gpt2"),
    "smollm2": ("LlamaConfig", "smollm2"),
    "qwen2.5": ("Qwen2Config", "qwen2.5"),
    "pythia": ("GPTNeoXConfig", "pythia"),
    "gemma3": ("Gemma3TextConfig", "gemma3"),
}


def family_of(slug: str) -> str:
    """The FAMILIES key `slug` starts with (`gpt2-large` -> `gpt2`); fails for a slug the
    table does not know, so a new registry entry needs its architecture added here."""
    for prefix in FAMILIES:
        if slug == prefix or slug.startswith(prefix + "-"):
            return prefix
    pytest.fail(f"registry entry {slug!r}: no family in tests/test_registry.py's FAMILIES "
                "starts its name; add its slug prefix and architecture there")


def registry_entries() -> list:
    return [pytest.param(slug, entry, id=f"{path.relative_to(ROOT)}:{slug}")
            for path in REGISTRIES
            for slug, entry in yaml.safe_load(path.read_text(encoding="utf-8"))["models"].items()]


def adapted_modules(peft_model) -> set[str]:
    """The names (last component) of the modules peft gave a LoRA adapter."""
    return {name.split(".")[-2] for name, _ in peft_model.named_modules() if name.endswith(".lora_A")}


def test_the_registry_holds_the_study_sizes_and_the_modern_models():
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    assert config["run"]["models"] == ["gpt2-large"]  # entries cost nothing until named here
    assert set(config["models"]) == {
        "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "smollm2-135m-base", "smollm2-360m-base",
        "smollm2-1.7b-base", "qwen2.5-0.5b", "qwen2.5-1.5b", "pythia-410m", "pythia-1.4b"}


@pytest.mark.parametrize("slug, entry", registry_entries())
def test_lora_targets_are_modules_of_the_architecture(slug, entry):
    from transformers import AutoModelForCausalLM

    architecture, tokenizer = FAMILIES[family_of(slug)]
    assert entry["tokenizer"] == tokenizer
    model = AutoModelForCausalLM.from_config(tiny_config(architecture))
    # build_trainable refuses a target no module is named after, then applies peft's
    # LoraConfig(target_modules=...) through get_peft_model.
    peft_model = build_trainable(model, "lora", LoraOptions(r=2, alpha=2, dropout=0.0),
                                 entry["lora_targets"])
    assert adapted_modules(peft_model) == set(entry["lora_targets"])


def test_an_unknown_family_fails():
    with pytest.raises(pytest.fail.Exception, match="'mamba-130m': no family"):
        family_of("mamba-130m")
