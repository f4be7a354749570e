"""What the teacher cache costs on disk and saves in time, measured on the demo (CPU).

python -m videomae.experiments.distill_cache --teacher runs/demo/pretrain --out runs/distill-cache

Four `latent` distillation runs of the demo's videos with the same clips every epoch
(`distill.cache.clip_cycle=1`), interleaved: 1 epoch without and with a fresh cache, then 2 epochs
without and with a fresh cache. The second epoch's time is the difference of each pair (start-up, the
first epoch and the probe cancel out): the cache's second epoch is all hits. Writes
`cache.json` with seconds per step, the speed-up, the entries and their bytes on disk.
"""

import argparse
import json
import os
import shutil

from videomae.experiments.distill_compare import STUDENT
from videomae.experiments.overrides import compose_cfg, demo_overrides
from videomae.training import distill


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", required=True, help="the demo's pre-training run directory")
    p.add_argument("--out", default="runs/distill-cache")
    p.add_argument("--data-root", default=None)
    p.add_argument("--unlabeled", type=int, default=60, help="unlabeled videos per class (the demo's)")
    p.add_argument(
        "--test-per-class", type=int, default=20, help="held-out test videos per class (the demo's)"
    )
    p.add_argument("--set", nargs="*", default=[], help="extra overrides (KEY=VALUE)")
    return p.parse_args(argv)


def one_run(args, run_dir: str, epochs: int, cache: str | None) -> dict:
    overrides = [
        *demo_overrides(args, seed=0),  # the demo's videos, reused
        "probe.enabled=false",
        *STUDENT,
        f"teacher={os.path.abspath(args.teacher)}",
        f"trainer.max_epochs={epochs}",
        "distill.cache.clip_cycle=1",
        *([f"distill.cache.dir={cache}"] if cache else []),
    ]
    print(f"\n=== scripts/distill.py {' '.join(overrides)}", flush=True)
    shutil.rmtree(run_dir, ignore_errors=True)
    if cache:  # each run fills its own first epoch
        shutil.rmtree(cache, ignore_errors=True)
    distill.run(compose_cfg("distill", overrides), run_dir)
    with open(os.path.join(run_dir, "summary.json"), encoding="utf-8") as f:
        return json.load(f)


def main(argv=None) -> dict:
    args = parse_args(argv)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    names = {False: "teacher every step", True: "cache"}
    summaries: dict[str, list[dict]] = {name: [] for name in names.values()}
    for epochs in (1, 2):  # interleaved, so that a change in the machine's load hits both alike
        for cached, name in names.items():
            cache = os.path.join(out, "cache") if cached else None
            run_dir = os.path.join(out, f"{'cache' if cached else 'live'}-{epochs}")
            summaries[name].append(one_run(args, run_dir, epochs, cache))
    seconds, steps = {}, {}
    for name, runs in summaries.items():
        steps[name] = runs[1]["steps"] - runs[0]["steps"]
        seconds[name] = (runs[1]["train_time_s"] - runs[0]["train_time_s"]) / steps[name]
    cache = os.path.join(out, "cache")
    entries = [os.path.join(r, n) for r, _, ns in os.walk(cache) for n in ns if n.endswith(".pt")]
    disk = sum(os.path.getsize(p) for p in entries)
    result = {
        "seconds_per_step": seconds,
        "speedup": seconds["teacher every step"] / seconds["cache"],
        "entries": len(entries),
        "disk_bytes": disk,
        "bytes_per_entry": disk / max(len(entries), 1),
        "note": "second epoch of each pair: all hits with the cache (same clips every epoch)",
    }
    with open(os.path.join(out, "cache.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
