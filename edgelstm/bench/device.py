"""On-device benchmark: the demo LSTM and GRU, exported to int8 C, run on every QEMU Cortex-M
board: outputs compared with TFLite Micro, instructions per inference and per MAC, flash, RAM.
The LSTM's instructions per MAC become each profile's [calibration]."""
from __future__ import annotations

import tempfile
from pathlib import Path

CORES = ("cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")


def bench_device() -> tuple[str, list[dict], str]:
    from ..demo import demo_model
    from ..export.api import export
    from ..run.api import run_on_target, write_calibration

    rows = []
    for kind in ("lstm", "gru"):
        model = demo_model(kind)
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp) / "export"
            export(model, d, quant="int8", variant="sequence", target="cortex-m4", name="hx", calib=model.calib,
                   validation=model.validation, check=True)
            for core in CORES:
                r = run_on_target(d, core, n_vectors=20)
                if kind == "lstm" and r["mismatches"] == 0:
                    write_calibration(r)
                rows.append({"model": f"demo {kind}", "target": core, "board": r["board"], "vectors": r["vectors"],
                             "mismatches": r["mismatches"], "instructions": r["instructions_per_inference"],
                             "macs": r["macs_per_inference"], "instructions_per_mac": r["instructions_per_mac"],
                             "flash_model": r["flash_bytes"]["model"], "flash_runtime": r["flash_bytes"]["runtime"],
                             "ram_state": r["ram_bytes"]["state"], "stack_peak": r["ram_bytes"]["stack_peak"]})
    head = ("| model | core (QEMU board) | mismatches | instructions / inference | MACs | instr / MAC | flash model | "
            "flash runtime | RAM state | stack peak |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head] + [f"| {r['model']} | {r['target']} ({r['board']}) | {r['mismatches']}/{r['vectors']} vectors | "
                      f"{r['instructions']:,.0f} | {r['macs']:,} | {r['instructions_per_mac']:.2f} | "
                      f"{r['flash_model']:,} B | {r['flash_runtime']:,} B | {r['ram_state']} B | {r['stack_peak']} B |"
                      for r in rows]
    return ("on device (int8 C export on QEMU, hx_run over 100 timesteps, -O2; instructions from SysTick under "
            "-icount)", rows, "\n".join(lines))
