"""Print robattr evaluation results (results.json files) as one markdown table.

python scripts/results_table.py results/mnist5k_*_reproduction/results.json --columns topk kendall lens_recall_r1
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT = [
    "failure_rate",
    "topk",
    "kendall",
    "spearman",
    "lens_recall_r1",
    "lens_prec_r1",
    "topk_div",
    "lens_recall_div_r1",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--columns", nargs="+", default=DEFAULT)
    parser.add_argument("--failed", default="failed_as_one", help="which variant of attacked rows to show")
    args = parser.parse_args()
    print("| model | attack | " + " | ".join(args.columns) + " |")
    print("|---|---|" + "---|" * len(args.columns))
    for path in args.files:
        model = path.parent.name
        data = json.loads(path.read_text())
        rows = data["rows"] if isinstance(data, dict) else data  # {"metadata", "rows"} since results carry metadata
        for row in rows:
            if row["attack"] in ("none", "pgd"):
                continue
            if row["failed"] not in (args.failed, "-"):
                continue
            cells = [f"{row[c]:.3f}" if isinstance(row.get(c), float) else "" for c in args.columns]
            print(f"| {model} | {row['attack']} | " + " | ".join(cells) + " |")
        extra = {r["attack"]: r for r in rows if r["attack"] in ("none", "pgd")}
        acc = ", ".join(f"{k} acc {v.get('natural_acc', v.get('pgd_acc')):.3f}" for k, v in extra.items())
        print(f"| {model} | ({acc}) |" + " |" * len(args.columns))


if __name__ == "__main__":
    main()
