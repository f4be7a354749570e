import os
import subprocess
import sys

import pytest

from videomae.data.synthetic import SyntheticSpec, ensure_synthetic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A tiny model and tiny clips: enough to run every code path in seconds on 2 CPU cores.
TINY_MODEL = dict(
    embed_dim=32, depth=1, num_heads=2, decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2
)
TINY_SYNTHETIC = SyntheticSpec(num_train_per_class=2, num_val_per_class=1, num_frames=16, size=64)


def tiny_overrides(data_root: str) -> list[str]:
    """Overrides that make `scripts/pretrain.py` run the demo pipeline at toy size."""
    spec = TINY_SYNTHETIC
    return [
        *(f"model.{k}={v}" for k, v in TINY_MODEL.items()),
        f"data.root={data_root}",
        "data.num_frames=4",
        "data.input_size=32",
        "data.batch_size=2",
        "data.num_workers=0",
        f"data.synthetic.num_train_per_class={spec.num_train_per_class}",
        f"data.synthetic.num_val_per_class={spec.num_val_per_class}",
        f"data.synthetic.num_frames={spec.num_frames}",
        f"data.synthetic.size={spec.size}",
    ]


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp("synthetic"))
    ensure_synthetic(root, TINY_SYNTHETIC)
    return root


def run_script(script: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run a repository script in a fresh process, as a user would."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_SILENT": "true"}
    env.pop("WANDB_API_KEY", None)
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "scripts", script), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
