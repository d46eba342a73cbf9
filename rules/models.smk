# Base models from the Hugging Face Hub, downloaded once (safetensors only).


rule prepare_model:
    output:
        directory("models/{model}"),
    log:
        "logs/models/{model}.log",
    localrule: True
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=0,
    params:
        source=lambda wc: model_entry(wc.model)["source"],
    script:
        "../workflow_scripts/prepare_model.py"
