"""Collate runs into a table (printed, report.md, report.csv) and plots (loss.png, probe.png).

python scripts/report.py runs/pretrain/multirun/2026-01-01_12-00-00        # a sweep
python scripts/report.py runs/pretrain/RUN_A runs/pretrain/RUN_B --out reports/ab

Each DIR is searched recursively for run directories (a summary.json or a .hydra/ folder). The
table has one row per run: the overrides that differ between the runs, the status (completed,
failed, stopped, running) and the metrics of each run's summary.json. The plots overlay each run's
curves from its CSV logger (metrics.csv), labelled with the swept values. A run whose files cannot
be used (summary.json not an object, metrics.csv not UTF-8, ...) costs only that run its row's
metrics or curves, with a warning naming it and why.
"""

import argparse
import os
import sys

from videomae.report import out_dir_problem, report


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="run or sweep directories")
    parser.add_argument("--out", help="where report.md, report.csv and the plots go (default: the first DIR)")
    args = parser.parse_args(argv)
    missing = [d for d in args.dirs if not os.path.isdir(d)]
    if missing:
        print(f"error: {', '.join(missing)}: not a directory", file=sys.stderr)
        return 2
    problem = out_dir_problem(args.out or args.dirs[0])
    if problem:
        where = "--out" if args.out else "the report goes to the first DIR (--out chooses another place)"
        print(f"error: {where}: {problem}", file=sys.stderr)
        return 2
    result = report(args.dirs, args.out)
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    if not result["runs"]:
        print(f"error: no runs (summary.json or .hydra/) under {', '.join(args.dirs)}", file=sys.stderr)
        return 1
    print(result["text"], end="")
    print(f"{result['runs']} runs; wrote " + ", ".join(result["written"].values()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
