#!/usr/bin/env bash
# The mask-ratio ablation in miniature (docs/ablations.md): pre-train on the demo's unlabeled videos
# (configs/dataset/synthetic.yaml: random dots; configs/model/demo.yaml: vit_tiny with 4 blocks, an
# 8 x 8 patch grid) at several mask ratios and compare the online probe of each; FINETUNE=1 also
# fine-tunes each (and a from-scratch baseline) on 2 labeled videos per class and tests them. CPU;
# OUT=runs/ablation.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python}
OUT=${OUT:-runs/ablation}
RATIOS=${RATIOS:-0.5,0.75,0.9}
EPOCHS=${EPOCHS:-15}       # of the 480 unlabeled videos, batch 16: 30 steps per epoch
FT_EPOCHS=${FT_EPOCHS:-30} # of the 16 labeled videos, batch 8: 2 steps per epoch
COMMON="data.synthetic.num_train_per_class=60 data.num_workers=1 logger=csv trainer.accelerator=cpu
  trainer.devices=1 +trainer.enable_model_summary=false progress.style=lines"

$PY scripts/pretrain.py -m mask.ratio=$RATIOS hydra/launcher=submitit_local $COMMON \
  trainer.max_epochs=$EPOCHS probe.every_n_epochs=5 probe.train_videos=80 probe.val_videos=80 \
  checkpoint.every_n_epochs=$EPOCHS viz.every_n_epochs=0 ckpt_path=auto hydra.sweep.dir=$OUT/pretrain
$PY scripts/report.py $OUT/pretrain --out $OUT/report-pretrain

if [ "${FINETUNE:-0}" = 1 ]; then
  P=$OUT/pretrain
  RUNS=$(ls -d $P/[0-9]* | paste -sd, -)
  $PY scripts/finetune.py -m pretrained=$RUNS,null hydra/launcher=submitit_local $COMMON \
    data.train_per_class=2 trainer.max_epochs=$FT_EPOCHS test=true hydra.sweep.dir=$OUT/finetune
  $PY scripts/report.py $OUT/finetune --out $OUT/report-finetune
fi
