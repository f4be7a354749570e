"""The frozen probes on the demo's videos: attentive on the pre-trained encoder vs the same probe
on a random encoder vs linear on the pre-trained encoder, over seeds (docs/evaluation.md).

python scripts/demo.py --out runs/demo                                  # pre-trains the encoder
python scripts/probe_demo.py --pretrained runs/demo/pretrain --out runs/probe-demo
"""

from videomae.experiments.probes import main

if __name__ == "__main__":
    main()
