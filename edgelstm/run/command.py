"""``edgelstm run``: the export on an emulated Cortex-M core, checked and measured."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _vectors(text: str) -> int:
    """argparse type of --vectors: 1 .. MAX_VECTORS (checked before anything is built)."""
    from ..errors import DataError
    from .api import check_vectors

    try:
        return check_vectors(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of test vectors, got '{text}'") from None
    except DataError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> float:
    try:
        s = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got '{text}'") from None
    if not s > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return s


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run an export on a QEMU Cortex-M board, compare with TFLite Micro, measure",
                       description="Cross-compile an export (edgelstm export) into firmware for QEMU's Cortex-M "
                                   "boards, feed it test vectors over semihosting, compare every output with TFLite "
                                   "Micro, and report instructions per inference (SysTick under -icount), flash "
                                   "and RAM.")
    p.add_argument("export", help="folder written by edgelstm export")
    p.add_argument("--target", default="cortex-m4",
                   help="cortex-m0plus (QEMU microbit: a Cortex-M0, same ARMv6-M instructions), cortex-m3, "
                        "cortex-m4 (default), cortex-m7, cortex-m33 or cortex-m55 (mps3-an547, MVE)")
    p.add_argument("--vectors", type=_vectors, default=50, help="test vectors: validation data, random, extremes "
                                                          "(default 50, at most 1000)")
    p.add_argument("--timeout", type=_seconds, default=120, help="seconds before QEMU is stopped (default 120)")
    p.add_argument("--calibrate", action="store_true",
                   help="write the measured instructions per MAC into profiles/<target>.toml [calibration] "
                        "(used by edgelstm profile --calibrated)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..progress import Progress
    from .api import load_export, run_on_target, write_calibration

    load_export(args.export)  # a damaged export is reported before anything is built
    if args.calibrate:
        _check_profile_writable(args.target)
    with Progress(4, f"run {args.target}", enabled=not args.json) as bar:
        result = run_on_target(args.export, args.target, args.vectors, args.timeout, progress=bar.step)
    if args.calibrate and result["mismatches"] == 0:
        result["calibration_written"] = str(write_calibration(result))
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print(render(result))
    return 0 if result["mismatches"] == 0 else 1


def _check_profile_writable(target: str) -> None:
    """--calibrate writes profiles/<target>.toml: check that it can, before the run."""
    import os

    from ..errors import TargetError
    from ..profile.targets import resolve_path

    path = resolve_path(target)
    if not os.access(path, os.W_OK):
        raise TargetError(f"--calibrate writes {path}, which is read-only; make it writable or drop --calibrate")


def render(r: dict) -> str:
    exact = "bit-exact" if r["max_abs_diff_lsb"] is not None else f"max abs diff {r['max_abs_diff']:.2e}"
    lines = [f"{r['model']} ({r['quant']}) on {r['target']} (QEMU {r['board']})",
             f"  outputs   {r['vectors']} vectors, {r['outputs_compared']} outputs vs {r['reference']}: "
             f"{r['mismatches']} mismatches ({exact if r['mismatches'] == 0 else 'MISMATCH'})",
             f"  speed     {r['instructions_per_inference']:,.0f} instructions per inference "
             f"({r['macs_per_inference']:,} MACs, {r['instructions_per_mac']} instructions/MAC)",
             f"            counter: {r['instruction_counter']}",
             f"  flash     model {r['flash_bytes']['model']:,} B + runtime {r['flash_bytes']['runtime']:,} B = "
             f"{r['flash_bytes']['total']:,} B",
             f"  RAM       state {r['ram_bytes']['state']:,} B + stack peak {r['ram_bytes']['stack_peak']:,} B = "
             f"{r['ram_bytes']['total']:,} B"]
    if r.get("calibration_written"):
        lines.append(f"  calibration written to {r['calibration_written']} (edgelstm profile --calibrated)")
    return "\n".join(lines)
