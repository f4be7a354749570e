"""Evaluate a frozen encoder with an attentive, linear or kNN probe (docs/evaluation.md).

python scripts/probe.py checkpoint=runs/pretrain/RUN                          # the demo, attentive
python scripts/probe.py checkpoint=videomae-base/ dataset=ucf101 data.root=/data/ucf101 probe=vjepa2
python scripts/probe.py checkpoint=PATH probe=knn probe.knn_k=[10,20,50]       # cached features
"""

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from videomae.config.cli import other_rank_overrides, reported_errors
from videomae.config.preflight import preflight
from videomae.training.probe_run import check_config, run
from videomae.training.run_dir_first import check_run_dir_first


@hydra.main(config_path="../configs", config_name="probe", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with reported_errors():
        run(cfg, HydraConfig.get().runtime.output_dir)


if __name__ == "__main__":
    sys.argv += other_rank_overrides(sys.argv[1:])  # torchrun/srun: only rank 0 writes the run dir
    check_run_dir_first("probe", sys.argv[1:])  # before Hydra writes .hydra/ into it
    preflight("probe", sys.argv[1:], check_config)  # a sweep: every job checked before any starts
    main()
