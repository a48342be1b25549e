"""The issue-12 table models on a microcontroller: each shipped model (edgelstm/models/table/, trained on
each of the table's data sets) exported to int8 C (calibrated on the train split, validated on the test
split), profiled (exact MACs per inference) and run on QEMU's Cortex-M4: every output compared with TFLite
Micro on the same vectors (the export's validation inputs first). A model edgelstm refuses is a
``not supported yet`` row.

``python -m edgelstm.bench.table_device [--only har_cnn_lstm,...] [--datasets vowels]`` runs it alone;
``make bench`` (``ONLY=table_device``) with the others.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import EdgeLSTMError, ModelError
from .accuracy import load_table_model
from .table_data import DATASETS, DEFAULT_DATASET
from .table_models import NAMES, chosen, chosen_datasets, only_parser

TARGET = "cortex-m4"
VECTORS = 40  # the export keeps the first validation inputs; run compares them all


def measure(name: str, dataset: str = DEFAULT_DATASET) -> dict[str, Any]:
    from ..export.api import export
    from ..profile.counts import count_model
    from ..run.api import run_on_target

    try:
        model = load_table_model(name, dataset)
    except ModelError as exc:
        return {"model": name, "dataset": dataset, "status": "not supported yet", "note": str(exc)[:200]}
    with tempfile.TemporaryDirectory(prefix="edgelstm-table-") as tmp:
        try:
            info = export(model, Path(tmp) / name, quant="int8", calib=model.calib, validation=model.validation,
                          force=True)  # the verdict is bench/accuracy's business
            run = run_on_target(Path(tmp) / name, TARGET, n_vectors=VECTORS)
        except EdgeLSTMError as exc:
            return {"model": name, "dataset": dataset, "status": "FAIL", "note": str(exc)[:300]}
    host = {r["mode"]: r["mismatches"] for r in info["host_check"]}
    ok = run["mismatches"] == 0 and not any(host.values())
    return {"model": name, "dataset": dataset, "status": "bit-exact" if ok else "FAIL", "variant": info["variant"],
            "streaming": info["api"]["streaming"], "c_graph": info["c_graph"],
            "profile_macs": count_model(model.desc, "int8")["totals"]["macs"], "export_macs": info["macs"]["per_run"],
            "host_check": host, "qemu_vectors": run["vectors"], "qemu_outputs": run["outputs_compared"],
            "qemu_mismatches": run["mismatches"], "instructions": run["instructions_per_inference"],
            "flash_bytes": run["flash_bytes"]["total"], "ram_bytes": run["ram_bytes"]["total"]}


def markdown(rows: list[dict]) -> str:
    lines = ["| data | model | C graph | MACs (profile = export) | host check run / step | QEMU M4 outputs, mismatches | "
             "instructions | flash | RAM | result |", "|---|---|---|---:|---|---|---:|---:|---:|---|"]
    for r in rows:
        if "host_check" not in r:
            lines.append(f"| {r['dataset']} | {r['model']} | - | - | - | - | - | - | - | "
                         f"{r['status']}: {r.get('note', '')} |")
            continue
        graph = "step (streams)" if r["streaming"] else "sequence (hx_run only)"
        macs = f"{r['profile_macs']:,}" + ("" if r["profile_macs"] == r["export_macs"] else f" / {r['export_macs']:,}")
        host = " / ".join(str(r["host_check"].get(m, "-")) for m in ("run", "step"))
        lines.append(f"| {r['dataset']} | {r['model']} | {graph} | {macs} | {host} | {r['qemu_outputs']}, {r['qemu_mismatches']} | "
                     f"{r['instructions']:,.0f} | {r['flash_bytes']:,} | {r['ram_bytes']:,} | {r['status']} |")
    return "\n".join(lines)


TITLE = f"issue-12 table models, int8 C on QEMU {TARGET} vs TFLite Micro"


def bench_table_device(names: tuple[str, ...] = NAMES,
                       datasets: tuple[str, ...] = tuple(DATASETS)) -> tuple[str, list[dict], str]:
    rows = []
    for dataset in datasets:
        for name in names:
            t = time.time()
            rows.append(measure(name, dataset))
            print(f"table_device {dataset} {name}: {rows[-1]['status']} ({time.time() - t:.0f} s)", flush=True)
    return TITLE, rows, markdown(rows)


def main(argv: list[str] | None = None) -> int:
    p = only_parser("python -m edgelstm.bench.table_device", __doc__)
    args = p.parse_args(argv)
    _, rows, table = bench_table_device(chosen(p, args.only), chosen_datasets(p, args.datasets))
    print(table)
    return 0 if all(r["status"] == "bit-exact" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
