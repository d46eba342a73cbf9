"""models/<slug>/: a base model as a plain local directory (safetensors + tokenizer), from
the Hugging Face Hub (safetensors weights only) or from a GGUF file (`gguf:<package>`, the
file inside an installed package, or a path ending in .gguf), dequantized once."""
from bibleft.entry import run_step
from bibleft.fileio import atomic_dir
from bibleft.gguf import convert_gguf, is_gguf_source, resolve_gguf
from bibleft.modeling import check_model_dir

# Weights as safetensors only; pickle files (*.bin, *.pt) can run code when loaded.
ALLOW = ["*.json", "*.safetensors", "*.txt", "*.model", "merges.txt", "vocab.*", "tokenizer*"]


def main(smk):
    source = smk.params.source
    if is_gguf_source(source):
        gguf_path = resolve_gguf(source)
        convert_gguf(gguf_path, smk.output[0])
        print(f"converted {gguf_path} (dequantized to float32) -> {smk.output[0]}")
        return
    from huggingface_hub import snapshot_download

    with atomic_dir(smk.output[0]) as tmp:
        snapshot_download(repo_id=source, local_dir=str(tmp), allow_patterns=ALLOW)
        check_model_dir(tmp)
    print(f"downloaded {source} -> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821
