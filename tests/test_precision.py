"""float32 means IEEE float32 matmuls unless a setting asks for TF32, and jobs record it."""

import pytest
import torch
import yaml

from bibleft.config import deep_merge, load_config
from bibleft.precision import configure_matmul, matmul_precision
from workflow_helpers import ROOT

CUDA = torch.device("cuda")  # setting the flags needs no GPU: they are read at matmul time


@pytest.fixture
def restore_flags():
    saved = (torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision)
    yield
    torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = saved


def test_tf32_is_on_only_when_asked(restore_flags):
    assert configure_matmul(CUDA, tf32=True) == "tf32"
    assert torch.backends.cuda.matmul.fp32_precision == "tf32"
    assert configure_matmul(CUDA, tf32=False) == "ieee"
    assert torch.backends.cuda.matmul.fp32_precision == "ieee"
    assert torch.backends.cudnn.conv.fp32_precision == "ieee"  # PyTorch's own default is tf32
    assert matmul_precision(CUDA) == "ieee"


def test_cpu_jobs_leave_the_flags_alone(restore_flags):
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    assert configure_matmul(torch.device("cpu"), tf32=True) == "ieee"
    assert torch.backends.cuda.matmul.fp32_precision == "tf32"


def test_shipped_defaults_answer_in_ieee_float32_and_the_overlay_undoes_every_speed_choice():
    raw = yaml.safe_load((ROOT / "config.yaml").read_text())
    config = load_config(raw).resolved_config()
    assert config["answer"]["dtype"] == "float32" and config["answer"]["tf32"] is False
    # Every value config.yaml marks "speed" is set back by overlays/study-exact.yaml.
    speed_keys = [(section, line.split(":")[0].strip())
                  for section, line in _commented_lines(ROOT / "config.yaml") if "# speed" in line]
    assert len(speed_keys) >= 4
    overlay = yaml.safe_load((ROOT / "overlays" / "study-exact.yaml").read_text())
    assert set(speed_keys) <= {(s, k) for s in overlay for k in overlay[s]}
    # The overlay laid over config.yaml as Snakemake merges a --configfile.
    exact = load_config(deep_merge(raw, overlay)).resolved_config()
    assert exact["train"]["precision"] == "fp32" and exact["train"]["tf32"] is False
    assert exact["answer"]["batch_size"] == 1 and exact["answer"]["prefix_cache"] is False


def _commented_lines(path):
    section = None
    for line in path.read_text().splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            section = line.rstrip()[:-1]
        elif line.startswith("  ") and not line.startswith("    "):
            yield section, line
