"""Plain functions behind the workflow's scripts: data parsing, tokenization,
fine-tuning, generation, scoring and figures. The scripts in `workflow_scripts/`
are thin entry points over this package; the tests import it directly."""
