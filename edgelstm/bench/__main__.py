"""``python -m edgelstm.bench [--out bench/]``: run every benchmark, write results.json and results.md."""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from .. import __version__
from .convert import bench_convert

#: Each benchmark returns (name, rows, markdown table). Later stages add theirs here.
BENCHMARKS = (bench_convert,)


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m edgelstm.bench", description=__doc__)
    p.add_argument("--out", default="bench", help="folder for results.json and results.md (default bench/)")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {"edgelstm_version": __version__, "machine": platform.machine(), "python": platform.python_version(),
               "date": time.strftime("%Y-%m-%d"), "benchmarks": {}}
    md = [f"# edgelstm benchmarks ({results['date']}, {platform.machine()}, Python {results['python']})", ""]
    for bench in BENCHMARKS:
        name, rows, table = bench()
        results["benchmarks"][name] = rows
        md += [f"## {name}", "", table, ""]
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
