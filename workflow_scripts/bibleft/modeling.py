"""Loading models safely and building the trainable model: the one place where full
fine-tuning and LoRA differ."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InputError

if TYPE_CHECKING:  # for annotations only: the job's options come typed
    from .config import LoraOptions

# torch is imported inside the functions that need it: the Snakefile imports this module
# to check model directories, and every snakemake call would otherwise pay for torch.


def pick_device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_model_dir(path: str | Path) -> Path:
    """A local model directory we are willing to load: config plus safetensors weights."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"model directory {path} does not exist (set models.<slug>.source "
                         "to a local directory or a Hub id)")
    if not (path / "config.json").is_file():
        raise InputError(f"model directory {path} has no config.json")
    if not any(path.glob("*.safetensors")):
        if any(path.glob("*.bin")) or any(path.glob("*.pt")) or any(path.glob("*.pth")):
            raise InputError(f"model directory {path} holds only pickle weights (*.bin/*.pt); "
                             "pickle can run code on load, so only safetensors are loaded. "
                             "Convert it with save_pretrained(..., safe_serialization=True)")
        raise InputError(f"model directory {path} has no *.safetensors weights")
    return path


def load_tokenizer(path: str | Path, trust_remote_code: bool = False, padding_side: str = "right"):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    if tokenizer.eos_token_id is None:
        raise InputError(f"tokenizer in {path} has no EOS token; one is needed to end each verse")
    if tokenizer.pad_token_id is None:
        # GPT-2 has no pad token. Padding is masked by the attention mask and the loss
        # mask, so reusing EOS is safe: batching.collate picks the padding out by position,
        # not by id, so a verse's real EOS stays in the loss.
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def load_causal_lm(path: str | Path, dtype=None, trust_remote_code: bool = False, device=None):
    """Load weights from safetensors only (`use_safetensors=True`): never pickle."""
    import torch
    from transformers import AutoModelForCausalLM

    path = check_model_dir(path)
    model = AutoModelForCausalLM.from_pretrained(
        str(path), dtype=dtype or torch.float32, use_safetensors=True, trust_remote_code=trust_remote_code,
        attn_implementation="sdpa")
    return model.to(device) if device is not None else model


# The architectures of the registry (config.yaml's models:) whose transformers 5 code builds
# its attention mask with position ids (masking_utils' packed-sequence masks), so a
# padding-free batch (batching.collate_padding_free) trains exactly as a padded one:
# GPT-2, Llama (SmolLM2), Qwen2, GPT-NeoX (Pythia), Gemma 3 (text). Each is checked by
# tests/test_padding_free.py on a tiny model; another architecture trains on padded
# batches, which every causal LM takes.
PADDING_FREE_MODEL_TYPES = frozenset({"gpt2", "llama", "qwen2", "gpt_neox", "gemma3_text"})


def takes_padding_free(model) -> bool:
    """Whether `model` (or the model a peft wrapper holds) trains on padding-free batches:
    its architecture is one of PADDING_FREE_MODEL_TYPES and it attends with sdpa or eager
    attention (what `load_causal_lm` asks for), whose masks the position ids build."""
    config = model.config
    return (config.model_type in PADDING_FREE_MODEL_TYPES
            and getattr(config, "_attn_implementation", "sdpa") in ("sdpa", "eager"))

def _uses_conv1d(model, targets: list[str]) -> bool:
    from transformers.pytorch_utils import Conv1D

    return any(isinstance(m, Conv1D) for name, m in model.named_modules()
               if name.rsplit(".", 1)[-1] in targets)


def build_trainable(model, method: str, lora: LoraOptions | None = None,
                    lora_targets: list[str] | None = None):
    """Return the model to train: the model itself (full) or a peft LoRA wrapper."""
    # transformers finds a model's loss by its class name; "GPT2LMHeadModel" names none, so
    # every forward with labels looks it up again and logs a warning. Under torch.compile
    # that log call splits the model into several graphs (a CUDA-graphs run of LoRA
    # crashed with them); naming the loss keeps the forward one graph.
    if getattr(model, "loss_type", None) is None:
        model.loss_type = "ForCausalLM"
    if method == "full":
        model.requires_grad_(True)
        return model
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        if not lora_targets:
            raise InputError("config models.<slug>.lora_targets: empty; name the modules LoRA adapts")
        present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
        missing = [t for t in lora_targets if t not in present]
        if missing:
            raise InputError(f"config models.<slug>.lora_targets: {missing} not found in the model "
                             f"(its module names include {sorted(present)[:12]})")
        config = LoraConfig(
            r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
            target_modules=list(lora_targets), task_type="CAUSAL_LM",
            # GPT-2's projections are Conv1D with transposed weights.
            fan_in_fan_out=_uses_conv1d(model, lora_targets))
        return get_peft_model(model, config)
    raise ValueError(f"unknown fine-tuning method {method!r} (full or lora)")
