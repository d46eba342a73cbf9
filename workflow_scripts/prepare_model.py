"""models/<slug>/: a base model from the Hugging Face Hub, safetensors weights only."""
from bibleft.entry import run_step
from bibleft.fileio import atomic_dir
from bibleft.modeling import check_model_dir

# Weights as safetensors only; pickle files (*.bin, *.pt) can run code when loaded.
ALLOW = ["*.json", "*.safetensors", "*.txt", "*.model", "merges.txt", "vocab.*", "tokenizer*"]


def main(smk):
    from huggingface_hub import snapshot_download

    with atomic_dir(smk.output[0]) as tmp:
        snapshot_download(repo_id=smk.params.source, local_dir=str(tmp), allow_patterns=ALLOW)
        check_model_dir(tmp)
    print(f"downloaded {smk.params.source} -> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821
