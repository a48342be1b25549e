"""edgelstm run: build an export into firmware for a QEMU Cortex-M board, feed it test vectors
over semihosting, compare every output with TFLite Micro, and measure instructions (SysTick
under QEMU -icount), flash and RAM."""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import DataError, TargetError
from ..export.check import MODE_RUN, compare, expected_run, layout, make_vectors
from ..export.harness import decode, encode, harness_for
from . import qemu

# A function definition in the runtime's C: a line starting with a type, the name, then '('.
_DEFINED = re.compile(r"^(?:static\s+)?(?:const\s+)?\w+[\s*]+(\w+)\s*\([^;]*$", re.M)

COUNTER_METHOD = "SysTick ticks under QEMU -icount (deterministic instruction-driven clock), converted to instructions"


def load_export(export_dir: str | Path) -> tuple[Path, dict]:
    d = Path(export_dir)
    f = d / "export.json"
    if not f.is_file():
        raise DataError(f"{d} is not an edgelstm export (no export.json); create one with `edgelstm export`")
    info = json.loads(f.read_text())
    info["dir"] = str(d)
    return d, info


def vectors(d: Path, info: dict, n: int, seed: int = 0) -> np.ndarray:
    """Up to n vectors: the validation inputs saved in the export, then random, then the extremes."""
    parts = []
    if info["files"].get("validation_inputs"):
        parts.append(np.load(d / info["files"]["validation_inputs"]))
    extra = make_vectors(info, None, n_random=max(n, 2), seed=seed)
    randoms, extremes = extra[:-2], extra[-2:]
    parts.append(randoms)
    xs = np.concatenate(parts)[:max(n - 2, 0)]
    return np.concatenate([xs, extremes])[:max(n, 1)]


def firmware_sources(d: Path, info: dict, work: Path) -> list[Path]:
    p = info["name"]
    main = work / "main.c"
    main.write_text(harness_for(info))
    return [d / f"{p}_model.c", main] + [d / s for s in info["files"]["runtime"]]


def run_on_target(export_dir: str | Path, target: str, n_vectors: int = 50, timeout_s: float = 120,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    d, info = load_export(export_dir)
    say = progress or (lambda _m: None)
    board = qemu.board_for(target)
    lay = layout(info)
    xs = vectors(d, info, n_vectors)
    with tempfile.TemporaryDirectory(prefix="edgelstm-run-") as tmp:
        work = Path(tmp)
        elf = qemu.build_firmware(firmware_sources(d, info, work), [d, d / "runtime" / "include"], target,
                                  work / "firmware.elf")
        say(f"built firmware for {board.machine}")
        res = qemu.run_firmware(elf, target, encode(lay, xs, MODE_RUN), timeout_s=timeout_s)
        say(f"ran {len(xs)} vectors in QEMU")
        got, ticks, stack_peak = decode(lay, res.output, len(xs), MODE_RUN)
        sizes = _sizes(elf, info)
    cmp = compare(got, expected_run(d, info, xs), "run")
    say("compared with TFLite Micro")
    instr = np.array([qemu.ticks_to_instructions(int(t), board) for t in ticks])
    per_inf = float(np.median(instr))
    macs = int(info["macs"]["per_run"])
    state = int(info["memory"]["state_struct_bytes"])
    return {
        "target": target, "board": board.machine, "export": str(d), "model": info["model"]["name"],
        "quant": info["quant"], "variant": info["variant"],
        "vectors": len(xs), "outputs_compared": cmp.elements, "mismatches": cmp.mismatches,
        "max_abs_diff_lsb": cmp.max_abs_diff if lay.dtype == "int8" else None,
        "max_abs_diff": cmp.max_abs_diff,
        "reference": "TFLite Micro (Python interpreter) on " + info["files"]["tflite"],
        "instructions_per_inference": round(per_inf, 1),
        "instructions_min_max": [round(float(instr.min()), 1), round(float(instr.max()), 1)],
        "instruction_counter": COUNTER_METHOD,
        "macs_per_inference": macs,
        "instructions_per_mac": round(per_inf / macs, 3) if macs else None,
        "flash_bytes": sizes,
        "ram_bytes": {"state": state, "stack_peak": stack_peak, "total": state + stack_peak},
    }


def _sizes(elf: Path, info: dict) -> dict[str, int]:
    """Model: every symbol of the export's prefix (weights, parameters, its functions);
    runtime: the kernels the firmware links; total: both (startup and check harness excluded)."""
    p = info["name"]
    model = qemu.symbol_sizes(elf, f"{p}_")
    names = set()
    for src in info["files"]["runtime"]:
        names |= set(_DEFINED.findall(Path(info["dir"], src).read_text()))
    runtime = sum(qemu.symbol_sizes(elf, n, exact=True) for n in sorted(names))
    return {"model": model, "runtime": runtime, "total": model + runtime, "elf_text_rodata": _elf_flash(elf)}


def _elf_flash(elf: Path) -> int:
    s = qemu.elf_sizes(elf)
    return int(s.get("text", 0) + s.get("rodata", 0))


def write_calibration(result: dict) -> Path:
    from ..profile.targets import write_calibration as write

    ipm = result["instructions_per_mac"]
    if not ipm:
        raise TargetError("no instructions per MAC measured; nothing to calibrate")
    return write(result["target"], ipm, f"edgelstm run: {result['model']} {result['quant']} on QEMU "
                 f"{result['board']}, {result['instructions_per_inference']:.0f} instructions per inference "
                 f"({result['macs_per_inference']} MACs), {COUNTER_METHOD}")
