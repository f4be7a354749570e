"""Turn an official dataset download (or any folder of videos) into our `path label` lists.

python scripts/prepare_dataset.py ucf101 --root /data/UCF101 --split 1
python scripts/prepare_dataset.py {ucf101,hmdb51,ssv2,k400,folder} --help
"""

import sys

from videomae.data.prepare import main

if __name__ == "__main__":
    sys.exit(main())
