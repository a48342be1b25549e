"""``python -m edgelstm.bench [--out bench/]``: run every benchmark, write results.json and results.md."""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from .. import __version__
from .convert import bench_convert
from .device import bench_device

#: Each benchmark returns (name, rows, markdown table). Later stages add theirs here.
BENCHMARKS = (bench_convert, bench_device)


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m edgelstm.bench", description=__doc__)
    p.add_argument("--out", default="bench", help="folder for results.json and results.md (default bench/)")
    p.add_argument("--only", choices=[b.__name__.removeprefix("bench_") for b in BENCHMARKS],
                   help="run one benchmark and keep the others' previous results")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {"edgelstm_version": __version__, "machine": platform.machine(), "python": platform.python_version(),
               "date": time.strftime("%Y-%m-%d"), "benchmarks": {}}
    md = [f"# edgelstm benchmarks ({results['date']}, {platform.machine()}, Python {results['python']})", ""]
    old = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else {}
    tables = dict(old.get("tables", {}))
    for bench in BENCHMARKS:
        key = bench.__name__.removeprefix("bench_")
        if args.only and key != args.only:
            if key in old.get("benchmarks", {}):
                results["benchmarks"][key] = old["benchmarks"][key]
            continue
        title, rows, table = bench()
        results["benchmarks"][key] = rows
        tables[key] = {"title": title, "markdown": table}
    results["tables"] = tables
    for key, t in tables.items():
        md += [f"## {t['title']}", "", t["markdown"], ""]
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
