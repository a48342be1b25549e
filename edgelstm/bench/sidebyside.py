"""edgelstm's int8 LSTM (and GRU) beside CMSIS-NN's arm_lstm_unidirectional_s8, same boards, same counter.

For each shape (input, hidden, T) and core: CMSIS-NN's instructions for the whole sequence (our
harness, cmsis_nn.py), flash of its LSTM code + data and its RAM; ours: ``edgelstm export
lstm:H@T/I --synthetic-calib --quant int8`` run by ``edgelstm run`` (hx_run over the sequence,
outputs compared with TFLite Micro), flash, RAM; the ratio ours / CMSIS-NN; the GRU of the same
shape (``gru:H@T/I``) in instructions per MAC beside the LSTM's. Everything is gcc -O2 with the
profile's flags, newlib-nano's memset/memcpy on both sides, QEMU -icount shift=10 SysTick counts.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from ..errors import EdgeLSTMError
from . import cmsis_nn
from .cmsis_nn import Shape
from .exports import run_spec

SHAPES = (Shape(12, 20, 29), Shape(6, 16, 100), Shape(64, 64, 50), Shape(128, 128, 20))
CORES = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")
GEOMEAN_CORES = ("cortex-m4", "cortex-m55")
#: instructions per whole sequence measured earlier with a picolibc-linked harness (see the notes)
REFERENCE = {"cortex-m4": (528_790, 1_394_926, 5_060_837, 6_477_795),
             "cortex-m55": (259_269, 699_314, 1_732_321, 1_968_252)}


def spec(kind: str, s: Shape) -> str:
    return f"{kind}:{s.hidden}@{s.steps}/{s.input_size}"


def bench_cmsis_nn() -> tuple[str, list[dict], str]:
    d, why = cmsis_nn.cmsis_nn_dir()
    dir0 = d
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="edgelstm-cmsis-") as tmp:
        for core in CORES:
            for k, s in enumerate(SHAPES):
                row: dict[str, Any] = {"shape": [s.input_size, s.hidden, s.steps], "core": core,
                                       "lstm_macs": s.macs}
                if d is not None:
                    try:
                        c = cmsis_nn.measure(d, s, core, Path(tmp) / f"{core}-{k}")
                        c1 = cmsis_nn.measure(d, s, core, Path(tmp) / f"{core}-{k}-seed1", seed=1)
                    except (EdgeLSTMError, RuntimeError) as exc:  # a CMSIS-NN that does not build here
                        d, why = None, f"CMSIS-NN from {d} failed on {core}: {str(exc).splitlines()[-1][:200]}"
                    else:
                        row["cmsis_nn"] = c
                        row["cmsis_nn_seed1_instructions"] = c1["instructions"]
                        if core in REFERENCE:
                            row["cmsis_nn_reference"] = REFERENCE[core][k]
                r = run_spec(spec("lstm", s), core)
                row["ours"] = _ours(r)
                g = run_spec(spec("gru", s), core)
                row["gru"] = _ours(g)
                if d is not None and "error" not in row["ours"]:
                    row["ratio"] = round(row["ours"]["instructions"] / row["cmsis_nn"]["instructions"], 3)
                rows.append(row)
    note = why
    gm = geomean([r["ratio"] for r in rows if r["core"] in GEOMEAN_CORES and "ratio" in r])
    meta = {"cmsis_nn_dir": str(dir0) if dir0 else None,
            "cmsis_nn_commit": cmsis_nn.cmsis_nn_version(dir0) if dir0 else None,
            "note": note, "geomean_ratio_m4_m55": gm}
    rows.append({"summary": meta})
    return ("edgelstm vs CMSIS-NN arm_lstm_unidirectional_s8 (int8 LSTM, whole sequence; QEMU -icount SysTick "
            "instructions, gcc -O2)", rows, table(rows))


def _ours(r: dict) -> dict[str, Any]:
    if "error" in r:
        return {"error": r["error"]}
    return {"instructions": r["instructions_per_inference"], "macs": r["macs_per_inference"],
            "instructions_per_mac": r["instructions_per_mac"], "mismatches": r["mismatches"],
            "outputs_compared": r["outputs_compared"], "flash_model": r["flash_bytes"]["model"],
            "flash_runtime": r["flash_bytes"]["runtime"], "flash": r["flash_bytes"]["total"],
            "flash_kernels": r["flash_bytes"].get("kernels", {}),
            "ram_state": r["ram_bytes"]["state"], "stack_peak": r["ram_bytes"]["stack_peak"],
            "ram": r["ram_bytes"]["total"], "board": r["board"]}


def _gru_ipm(g: dict) -> str:
    return "error" if "error" in g else f"{g['instructions_per_mac']:.2f}"


def geomean(xs: list[float]) -> float | None:
    return round(math.exp(sum(math.log(x) for x in xs) / len(xs)), 3) if xs else None


def table(rows: list[dict]) -> str:
    summary = next((r["summary"] for r in rows if "summary" in r), {})
    points = [r for r in rows if "summary" not in r]
    have = any("cmsis_nn" in r for r in points)
    skipped = summary.get("note")
    head = ("| (I, H, T) | core (QEMU board) | CMSIS-NN instr | ours instr | ours / CMSIS-NN | CMSIS-NN flash | "
            "ours flash | CMSIS-NN RAM | ours RAM | LSTM instr/MAC ours (CMSIS-NN) | GRU instr/MAC ours | "
            "vs TFLM |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for r in points:
        o, g, c = r["ours"], r["gru"], r.get("cmsis_nn")
        shape = "({}, {}, {})".format(*r["shape"])
        cm = (lambda key, fmt="{:,.0f}": fmt.format(c[key])) if c else (lambda *_a, **_k: "n/a")
        cmsis_ipm = f" ({c['instructions'] / r['lstm_macs']:.2f})" if c else ""
        board = o.get("board") or g.get("board") or ""
        if "error" in o:
            lines.append(f"| {shape} | {r['core']} | {cm('instructions')} | error | | {cm('flash')} B | | "
                         f"{cm('ram')} B | "
                         f"| n/a{cmsis_ipm} | {_gru_ipm(g)} | {o['error'][:80]} |")
            continue
        bad = o["mismatches"] + g.get("mismatches", 0)
        exact = "bit-exact" if bad == 0 else f"{bad} MISMATCHES"
        lines.append(f"| {shape} | {r['core']} ({board}) | {cm('instructions')} | {o['instructions']:,.0f} | "
                     f"{r['ratio'] if 'ratio' in r else 'n/a'} | {cm('flash')} B | {o['flash']:,} B | "
                     f"{cm('ram')} B | {o['ram']:,} B | {o['instructions_per_mac']:.2f}{cmsis_ipm} | "
                     f"{_gru_ipm(g)} | {exact} |")
    lines.append("")
    if have:
        lines.append(f"Geometric mean of ours / CMSIS-NN over the {len(GEOMEAN_CORES) * len(SHAPES)} Cortex-M4 and "
                     f"Cortex-M55 points: **{summary.get('geomean_ratio_m4_m55')}**. CMSIS-NN at commit "
                     f"{summary.get('cmsis_nn_commit')} from {summary.get('cmsis_nn_dir')} (`CMSIS_NN_DIR`).")
        lines.append("")
        lines.append(NOTES)
    if skipped:
        lines.append(f"CMSIS-NN columns skipped: {skipped}")
    return "\n".join(lines)


NOTES = """Flash: CMSIS-NN = its LSTM code (the 9 source files arm_lstm_unidirectional_s8 calls, with their
tables) + the weights, effective biases and parameters; ours = the exported model (weights, parameters,
generated code) + the runtime kernels it links (tables included). Library memset/memcpy excluded on both
sides. RAM: CMSIS-NN = cell and hidden state, two int16 gate buffers and the T x H output sequence its API
writes (and reads back as each step's hidden input) + the stack peak; ours = the state struct + the stack
peak. The input sequence (the caller's) is not counted. CMSIS-NN runs on random int8 weights with
converter-like quantization parameters; its count moves by at most a few hundredths of a percent with other
random values (`cmsis_nn_seed1_instructions` in results.json)."""
