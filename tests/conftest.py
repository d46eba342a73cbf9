import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow_scripts"))
sys.path.insert(0, str(ROOT / "tests"))

from fixtures import make_tiny_gpt2  # noqa: E402


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> Path:
    return make_tiny_gpt2(tmp_path_factory.mktemp("models") / "tiny-gpt2")



@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> dict:
    """One finished tiny workflow (workflow_helpers.finished_tiny_run), shared by every
    end-to-end test that only reads its outputs or dry-runs against it."""
    from workflow_helpers import finished_tiny_run

    return finished_tiny_run(tmp_path_factory.mktemp("tiny-run"))
