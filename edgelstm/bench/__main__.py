"""``python -m edgelstm.bench [--out bench/]``: run every benchmark, write results.json and results.md."""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from .. import __version__
from .accuracy import bench_accuracy
from .convert import bench_convert
from .device import bench_device
from .kernels import bench_kernels
from .sidebyside import bench_cmsis_nn
from .table_device import bench_table_device

#: Each benchmark returns (name, rows, markdown table). Later stages add theirs here. cmsis_nn before
#: kernels: the kernel fits reuse its runs of our exports (exports.run_spec).
BENCHMARKS = (bench_convert, bench_accuracy, bench_table_device, bench_device, bench_cmsis_nn, bench_kernels)
#: Benchmarks that also write files of their own into --out (accuracy: accuracy.json, accuracy.md).
WRITES_FILES = (bench_accuracy,)


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m edgelstm.bench", description=__doc__)
    p.add_argument("--out", default="bench", help="folder for results.json and results.md (default bench/)")
    names = [b.__name__.removeprefix("bench_") for b in BENCHMARKS]
    p.add_argument("--only", type=lambda text: _names(text, names),
                   help=f"comma list of {', '.join(names)}: run these and keep the others' previous results")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {"edgelstm_version": __version__, "machine": platform.machine(), "python": platform.python_version(),
               "date": time.strftime("%Y-%m-%d"), "benchmarks": {}}
    md = [f"# edgelstm benchmarks ({results['date']}, {platform.machine()}, Python {results['python']})", ""]
    old = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else {}
    tables = dict(old.get("tables", {}))
    results["seconds"] = dict(old.get("seconds", {}))
    for bench in BENCHMARKS:
        key = bench.__name__.removeprefix("bench_")
        if args.only and key not in args.only:
            if key in old.get("benchmarks", {}):
                results["benchmarks"][key] = old["benchmarks"][key]
            continue
        t0 = time.time()
        title, rows, table = bench(out) if bench in WRITES_FILES else bench()
        print(f"bench {key}: {time.time() - t0:.0f} s", flush=True)
        results["benchmarks"][key] = rows
        results["seconds"][key] = round(time.time() - t0, 1)
        tables[key] = {"title": title, "markdown": table}
    results["tables"] = tables
    for key, t in tables.items():
        md += [f"## {t['title']}", "", t["markdown"], ""]
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


def _names(text: str, names: list[str]) -> list[str]:
    chosen = [t.strip() for t in text.split(",") if t.strip()]
    bad = [c for c in chosen if c not in names]
    if bad or not chosen:
        what = ", ".join(bad) or repr(text)
        raise argparse.ArgumentTypeError(f"unknown benchmark {what}; choose from {', '.join(names)}")
    return chosen


if __name__ == "__main__":
    raise SystemExit(main())
