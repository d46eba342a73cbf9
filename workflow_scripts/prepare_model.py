"""models/<slug>/: a base model as a plain local directory (safetensors + tokenizer), from
the Hugging Face Hub (safetensors weights only, at models.<slug>.revision) or from a GGUF
file (`gguf:<package>`, the file inside an installed package or assembled from its parts,
or a path ending in .gguf), dequantized once."""
from bibleft.entry import run_step
from bibleft.gguf import is_gguf_source, prepare_gguf_model
from bibleft.hub import download_model


def main(smk):
    source, revision = smk.params.options["source"], smk.params.options["revision"]
    if is_gguf_source(source):
        record = prepare_gguf_model(source, smk.output[0])
        print(f"converted {source}: {record['file']} (sha256 {record['sha256']}), dequantized to "
              f"float32 -> {smk.output[0]}")
        return
    record = download_model(source, revision, smk.output[0])
    print(f"downloaded {source} at commit {record['commit']} (revision {record['revision'] or 'main'}) "
          f"-> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821
