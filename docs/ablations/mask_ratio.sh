#!/usr/bin/env bash
# The mask-ratio ablation in miniature (docs/ablations.md): pre-train on the demo's unlabeled videos
# at four mask ratios, fine-tune each (and a from-scratch baseline) on 10 labeled videos per class,
# test, and report. CPU; OUT=runs/ablation by default; EPOCHS / FT_EPOCHS make it longer.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python}
OUT=${OUT:-runs/ablation}
EPOCHS=${EPOCHS:-5}        # of the 320 unlabeled videos, batch 16: 20 steps per epoch
FT_EPOCHS=${FT_EPOCHS:-10} # of the 80 labeled videos, batch 8: 10 steps per epoch
# The demo's model (scripts/demo.py): vit_tiny, 4 blocks, patch 8 at 32 px (a 4 x 4 patch grid).
COMMON="model.depth=4 model.patch_size=8 data.input_size=32 data.num_workers=1 logger=csv
  trainer.accelerator=cpu trainer.devices=1 +trainer.enable_progress_bar=false
  +trainer.enable_model_summary=false"

$PY scripts/pretrain.py -m mask.ratio=0.5,0.75,0.9,0.95 hydra/launcher=submitit_local \
  $COMMON model.decoder_depth=2 trainer.max_epochs=$EPOCHS optim.warmup_epochs=1 optim.base_lr=4.8e-2 \
  checkpoint.every_n_epochs=$EPOCHS viz.every_n_epochs=0 ckpt_path=auto \
  hydra.sweep.dir=$OUT/pretrain

P=$OUT/pretrain
$PY scripts/finetune.py -m pretrained=$P/0,$P/1,$P/2,$P/3,null hydra/launcher=submitit_local \
  $COMMON data.train_per_class=10 data.batch_size=8 optim.base_lr=1.6e-2 trainer.max_epochs=$FT_EPOCHS \
  +trainer.check_val_every_n_epoch=$FT_EPOCHS +trainer.num_sanity_val_steps=0 \
  data.test_clips=2 data.test_crops=1 checkpoint.every_n_epochs=$FT_EPOCHS test=true \
  hydra.sweep.dir=$OUT/finetune

$PY scripts/report.py $OUT/pretrain --out $OUT/report-pretrain
$PY scripts/report.py $OUT/finetune --out $OUT/report-finetune
