"""edgelstm run: build an export into firmware for a QEMU Cortex-M board, feed it test vectors
over semihosting, compare every output with TFLite Micro, and measure instructions (SysTick
under QEMU -icount), flash and RAM."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import procs
from ..errors import DataError, TargetError
from ..export.check import MODE_RUN, PADDED_VECTORS, compare, expected_run, layout, make_vectors, mask_input
from ..export.harness import decode, encode, harness_for
from . import qemu


#: Most test vectors per run: the saved validation inputs (at most 64), random inputs and the extremes
#: need far fewer; every vector is also run through TFLite Micro on the host.
MAX_VECTORS = 1000
_REQUIRED = ("name", "quant", "variant", "model", "api", "memory", "macs", "files")
_API_KEYS = ("seq_len", "input_size", "output_size", "output_steps", "dtype", "streaming")

COUNTER_METHOD = "SysTick ticks under QEMU -icount (deterministic instruction-driven clock), converted to instructions"


def _broken(d: Path, what: str) -> DataError:
    return DataError(f"{d} is a damaged export: {what}; write it again with `edgelstm export`")


def load_export(export_dir: str | Path) -> tuple[Path, dict]:
    """export.json of an export folder, checked with every file it lists (before any build or run)."""
    d = Path(export_dir)
    f = d / "export.json"
    if not f.is_file():
        raise DataError(f"{d} is not an edgelstm export (no export.json); create one with `edgelstm export`")
    try:
        info = json.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _broken(d, f"export.json is not valid JSON ({exc})") from None
    missing = [k for k in _REQUIRED if k not in info] if isinstance(info, dict) else list(_REQUIRED)
    missing += [f"api.{k}" for k in _API_KEYS if not missing and k not in info["api"]]
    if missing:
        raise _broken(d, f"export.json lacks {', '.join(missing)}")
    info["dir"] = str(d)
    _check_files(d, info)
    return d, info


def _check_files(d: Path, info: dict) -> None:
    files = info["files"]
    listed = [f"{info['name']}_model.c", f"{info['name']}_model.h", files.get("tflite", ""),
              *files.get("runtime", [])]
    if files.get("step_tflite"):
        listed.append(files["step_tflite"])
    absent = [name or "(no tflite listed)" for name in listed if not name or not (d / name).is_file()]
    if absent:
        raise _broken(d, f"missing {', '.join(absent)}")
    for name in {files["tflite"], files.get("step_tflite") or files["tflite"]}:
        _check_tflite(d, name)
    if files.get("validation_inputs"):
        _load_validation_inputs(d, info)


def _check_tflite(d: Path, name: str) -> None:
    """The flatbuffer must verify (LiteRT checks it) before TFLite Micro is given it."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        Interpreter(model_content=(d / name).read_bytes(),
                    experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    except ValueError as exc:
        raise _broken(d, f"{name} is not a valid .tflite ({exc}; truncated or overwritten?)") from None


def _load_validation_inputs(d: Path, info: dict) -> np.ndarray:
    name = info["files"]["validation_inputs"]
    a = info["api"]
    try:
        x = np.load(d / name, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise _broken(d, f"{name} is not a readable .npy ({exc})") from None
    want = (a["seq_len"], a["input_size"])
    if x.ndim != 3 or x.shape[1:] != want or x.dtype != np.dtype(a["dtype"]):
        raise _broken(d, f"{name} holds {x.dtype} {x.shape}, expected {a['dtype']} (N, {want[0]}, {want[1]})")
    return x


def check_vectors(n: int) -> int:
    """The number of test vectors of a run: 1 .. MAX_VECTORS."""
    if n < 1:
        raise DataError(f"the number of test vectors must be at least 1, got {n}; pass --vectors 1 to {MAX_VECTORS}")
    if n > MAX_VECTORS:
        raise DataError(f"{n} test vectors is out of range 1..{MAX_VECTORS} (the saved validation inputs, random "
                        f"inputs and the two extremes need no more); pass --vectors {MAX_VECTORS} or fewer")
    return n


def vectors(d: Path, info: dict, n: int, seed: int = 0) -> np.ndarray:
    """Up to n vectors: the validation inputs saved in the export, then random, then the extremes."""
    parts = []
    if info["files"].get("validation_inputs"):
        parts.append(_load_validation_inputs(d, info))
    extra = make_vectors(info, None, n_random=max(n, 2), seed=seed)
    # the extremes and (Masking) the padded and all-masked vectors are always kept
    n_special = 2 + (PADDED_VECTORS if mask_input(info) is not None else 0)
    randoms, specials = extra[:-n_special], extra[-n_special:]
    parts.append(randoms)
    xs = np.concatenate(parts)[:max(n - n_special, 0)]
    return np.concatenate([xs, specials])[:max(n, 1)]


def firmware_sources(d: Path, info: dict, work: Path) -> list[Path]:
    p = info["name"]
    main = work / "main.c"
    main.write_text(harness_for(info))
    return [d / f"{p}_model.c", main] + [d / s for s in info["files"]["runtime"]]


def run_on_target(export_dir: str | Path, target: str, n_vectors: int = 50, timeout_s: float = 120,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    check_vectors(n_vectors)
    d, info = load_export(export_dir)
    say = progress or (lambda _m: None)
    board = qemu.board_for(target)
    lay = layout(info)
    xs = vectors(d, info, n_vectors)
    with procs.temp_dir("edgelstm-run-") as work:
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
    mask = mask_input(info)
    full = np.ones(len(xs), bool) if mask is None else ~np.any(np.all(xs == mask, axis=-1), axis=-1)
    # Masking: masked steps are skipped, so the speed (and instructions per MAC) is taken over the vectors
    # without a masked step (the MACs count every step)
    per_inf = float(np.median(instr[full] if full.any() else instr))
    macs = int(info["macs"]["per_run"])
    state = int(info["memory"]["state_struct_bytes"])
    scratch = int(info["memory"].get("scratch_bytes", 0))
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
        "ram_bytes": {"state": state, "scratch": scratch, "stack_peak": stack_peak,
                      "total": state + scratch + stack_peak},
    }


def _sizes(elf: Path, info: dict) -> dict[str, Any]:
    """Flash from the link map (qemu.object_sizes): model = the export's <p>_model.c object (weights,
    parameters, its functions), runtime = the runtime kernel objects, with code and const tables
    (kernels: per kernel source file), total = both; the check harness, startup and C library
    (memcpy, memset) are excluded."""
    objs = qemu.object_sizes(elf)
    model = qemu.flash_bytes(objs[f"{info['name']}_model"])
    kernels = {Path(src).stem: qemu.flash_bytes(objs[Path(src).stem]) for src in info["files"]["runtime"]
               if Path(src).suffix == ".c" and Path(src).stem in objs}
    runtime = sum(kernels.values())
    return {"model": model, "runtime": runtime, "total": model + runtime, "kernels": kernels,
            "elf_text_rodata": _elf_flash(elf)}


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
