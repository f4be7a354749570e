"""Fine-tune a VideoMAE classifier from a pre-trained encoder.

python scripts/finetune.py pretrained=runs/pretrain/RUN            # the embedded demo dataset
python scripts/finetune.py dataset=ucf101 data.root=/data/ucf101 pretrained=videomae-base/
"""

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from videomae.config.cli import other_rank_overrides, reported_errors
from videomae.config.preflight import preflight
from videomae.training.finetune import check_config, run
from videomae.training.run_dir_first import check_run_dir_first


@hydra.main(config_path="../configs", config_name="finetune", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with reported_errors():
        run(cfg, HydraConfig.get().runtime.output_dir)


if __name__ == "__main__":
    sys.argv += other_rank_overrides(sys.argv[1:])  # torchrun/srun: only rank 0 writes the run dir
    check_run_dir_first("finetune", sys.argv[1:])  # before Hydra writes .hydra/ into it
    preflight("finetune", sys.argv[1:], check_config)  # a sweep: every job checked before any starts
    main()
