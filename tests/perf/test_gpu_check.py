"""scripts/gpu_check.sh's dry run, as on a fresh GPU machine's image: without Hydra, OmegaConf,
decord, PyAV or wandb (imports of them fail here as they would there)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from helpers import REPO

BLOCKER = textwrap.dedent("""
    import importlib.abc, sys
    BLOCKED = {"hydra", "omegaconf", "decord", "av", "wandb"}
    class _Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    sys.meta_path.insert(0, _Block())
""")


@pytest.mark.slow
def test_gpu_check_dry_run_without_the_missing_packages(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHON": sys.executable}
    result = subprocess.run(
        ["bash", os.path.join(REPO, "scripts", "gpu_check.sh"), str(out), "--dry-run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    results = json.loads((out / "gpu_check.json").read_text())
    parts = results["parts"]
    assert list(parts) == ["throughput", "lightning", "fsdp", "checkpointing", "memory"]
    assert all(p["status"] == "ok" for p in parts.values()), parts
    assert set(parts["throughput"]) >= {"eager", "compiled", "dual masking 0.5", "transformers"}
    for variant in ("eager", "compiled", "dual masking 0.5", "transformers"):
        assert parts["throughput"][variant]["clips_per_s"] > 0, parts["throughput"][variant]
    assert parts["lightning"]["pretrain"]["steps"] == parts["lightning"]["finetune"]["steps"] == 3
    assert parts["fsdp"]["same_loss"] and parts["checkpointing"]["same_loss"]
    assert "| throughput | eager |" in (out / "gpu_check.md").read_text()
    assert (out / "gpu_check.log").is_file()


def test_gpu_check_without_cuda_asks_for_the_dry_run(tmp_path):
    from videomae.training import gpu_check

    if gpu_check.torch.cuda.is_available():
        pytest.skip("a CUDA device is here")
    with pytest.raises(SystemExit):
        gpu_check.main([str(tmp_path)])
