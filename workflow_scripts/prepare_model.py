"""models/<slug>/: a base model as a plain local directory (safetensors + tokenizer), from
the Hugging Face Hub (safetensors weights only, at models.<slug>.revision) or from a GGUF
file (`gguf:<package>`, the file inside an installed package, or a path ending in .gguf),
dequantized once."""
from bibleft.entry import run_step
from bibleft.gguf import convert_gguf, is_gguf_source, resolve_gguf
from bibleft.hub import download_model


def main(smk):
    source = smk.params.source
    if is_gguf_source(source):
        gguf_path = resolve_gguf(source)
        convert_gguf(gguf_path, smk.output[0])
        print(f"converted {gguf_path} (dequantized to float32) -> {smk.output[0]}")
        return
    record = download_model(source, smk.params.revision, smk.output[0])
    print(f"downloaded {source} at commit {record['commit']} (revision {record['revision'] or 'main'}) "
          f"-> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821
