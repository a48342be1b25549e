"""Per-kernel instruction costs for the profiler: linear terms fitted to QEMU runs of several shapes,
written into profiles/<core>.toml under [calibration.kernels] (format: KERNEL_DOC below).

- ``lstm`` and ``gru``: an exported layer as hx_run runs it over a sequence (lstm_step_s8 /
  gru_step_s8 and the generated step code around them: state copies, output copy), from
  ``edgelstm export lstm:H@T/I`` / ``gru:H@T/I`` exports run by ``edgelstm run`` (outputs compared
  with TFLite Micro) on SHAPES (the side-by-side shapes and three more).
- ``fc``, ``softmax``, ``lut``, ``add``, ``mul``: one call of fc_s8, softmax_s8, lut_s8, add_s8,
  mul_s8 over several sizes, from a microbenchmark (firmware_export/bench/kernels/kernel_bench.c)
  linked with the runtime's kernel source of the moment.

Fits are least squares, with any term that comes out negative dropped and the rest refitted (a
cost cannot be negative); each kernel records its shapes and its worst relative error.
"""
from __future__ import annotations

import shutil
import struct
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import TargetError, ToolchainError
from ..export.toolchain import REPO, RUNTIME
from ..run import qemu
from .cmsis_nn import Shape
from .exports import run_spec
from .sidebyside import SHAPES as SIDE_SHAPES
from .sidebyside import spec

CORES = ("cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")
SHAPES = SIDE_SHAPES + (Shape(3, 8, 40), Shape(40, 12, 10), Shape(10, 48, 6))
BENCH_DIR = REPO / "firmware_export" / "bench" / "kernels"
PROFILES = REPO / "profiles"

#: microbenchmarked kernels: (source stem, KB_ id, cases, term names, design-matrix row of a case)
MICRO: dict[str, tuple[str, str, list[tuple[int, int]], tuple[str, ...], Callable[[int, int], list[float]]]] = {
    "fc": ("fc_s8", "KB_FC",
           [(4, 4), (16, 4), (6, 16), (32, 32), (64, 10), (10, 64), (128, 128), (100, 7), (24, 48)],
           ("per_call", "per_unit", "per_input", "per_mac"), lambda i, o: [1, o, i, i * o]),
    "softmax": ("softmax_s8", "KB_SOFTMAX", [(n, 0) for n in (2, 3, 4, 8, 10, 16, 32, 64, 100)],
                ("per_call", "per_element"), lambda n, _o: [1, n]),
    "lut": ("lut_s8", "KB_LUT", [(n, 0) for n in (1, 4, 16, 20, 33, 64, 100, 128, 256)],
            ("per_call", "per_element"), lambda n, _o: [1, n]),
    "add": ("add_s8", "KB_ADD", [(n, 0) for n in (1, 4, 16, 20, 33, 64, 100, 128, 256)],
            ("per_call", "per_element"), lambda n, _o: [1, n]),
    "mul": ("mul_s8", "KB_MUL", [(n, 0) for n in (1, 4, 16, 20, 33, 64, 100, 128, 256)],
            ("per_call", "per_element"), lambda n, _o: [1, n]),
}
RECURRENT_TERMS = ("per_call", "per_step", "per_unit", "per_input", "per_mac")
MAC_PADDINGS = (1, 4, 16)
GATES = {"lstm": 4, "gru": 3}
COUNTS = {
    "lstm": ("whole sequence of T steps: per_call + T x (per_step + per_unit x H + per_input x I "
             "+ per_mac x 4H(pad(I)+pad(H)))"),
    "gru": ("whole sequence of T steps: per_call + T x (per_step + per_unit x H + per_input x I "
            "+ per_mac x 3H(pad(I)+pad(H)))"),
    "fc": "one input vector: per_call + per_unit x outputs + per_input x inputs + per_mac x inputs x outputs",
    "softmax": "one row: per_call + per_element x depth",
    "lut": "per_call + per_element x elements",
    "add": "per_call + per_element x elements",
    "mul": "per_call + per_element x elements",
}

KERNEL_DOC = """# Per-kernel instruction costs, written by `make bench` (edgelstm/bench/kernels.py): least-squares fits
# (on relative error) to QEMU runs (-icount SysTick instruction counts, gcc -O2 with the toolchain cflags)
# of several shapes.
# One table per kernel; instructions = sum of term x count, the counts as each table's `counts` says:
#   per_call     once per call (lstm/gru: per hx_run over a sequence, reset included)
#   per_step     per timestep (lstm/gru)
#   per_unit     per hidden unit per timestep (lstm/gru); per output row (fc)
#   per_input    per input element per timestep (lstm/gru); per input element (fc)
#   per_mac      per multiply-accumulate: 4H(I+H) per step (lstm), 3H(I+H) (gru), inputs x outputs (fc);
#                lstm/gru count I and H rounded up to a multiple of mac_padding (1, 4 or 16: the kernel path
#                runs 4 or 16 columns per pass), the padding that fitted best
#   per_element  per element (softmax depth; lut, add, mul size)
#   mode_zero_per_unit, mode_any_per_unit (lstm): extra per unit per step when the layer's requantization
#                mode (el_lstm_s8_t.mode) is "zero" or "any" rather than "fast" (the fits' exports are "fast")
# lstm and gru are layers as exported (the kernel plus the generated step code around it); fc, softmax,
# lut, add and mul one kernel call each. flash_bytes: the kernel's source files in the linked ELF, code
# plus read-only data (lstm: lstm_step_s8.c and sigmoid_s16.c with its sigmoid tables); flash_files per
# file. shapes: how many were fitted; max_rel_error: the fit's worst relative error on them."""


def fit(rows: list[list[float]], y: list[float], names: tuple[str, ...]) -> tuple[dict[str, float], float]:
    """Least squares on relative residuals (every shape counts alike, small or large), with negative terms
    dropped (refit without them; a cost cannot be negative); (terms, worst relative error)."""
    a, b = np.asarray(rows, dtype=float), np.asarray(y, dtype=float)
    w = 1.0 / b
    keep = list(range(len(names)))
    while True:
        coef, *_ = np.linalg.lstsq(a[:, keep] * w[:, None], b * w, rcond=None)
        neg = [k for k, c in zip(keep, coef) if c < 0]
        if not neg or len(keep) == 1:
            break
        keep.remove(min(neg, key=lambda k: coef[keep.index(k)]))
    terms = {n: 0.0 for n in names}
    for k, c in zip(keep, coef):
        terms[names[k]] = float(c)
    pred = a @ np.array([terms[n] for n in names])
    return {n: round(v, 4) for n, v in terms.items()}, float(np.max(np.abs(pred - b) / b))


def padded(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def fit_recurrent(cases: list[list[int]], y: list[float], gates: int) -> tuple[dict[str, float], float, int]:
    """The recurrent-layer fit with MACs counted over columns padded to 1, 4 or 16 (kernels that run 4 or
    16 columns per pass pay for the padding), whichever fits best: (terms, worst relative error, padding)."""
    best = None
    for pad in MAC_PADDINGS:
        rows = [[1, t, t * h, t * i, t * gates * h * (padded(i, pad) + padded(h, pad))] for i, h, t in cases]
        terms, err = fit(rows, y, RECURRENT_TERMS)
        if best is None or err < best[1] - 1e-4:
            best = (terms, err, pad)
    assert best is not None
    return best


# ------------------------------------------------------------------ microbenchmarks

def _cases_header(kernel: str) -> str:
    _stem, kid, cases, _t, _r = MICRO[kernel]
    max_in = max(c[0] for c in cases)
    max_out = max(max(c[1] for c in cases), max_in)
    max_w = max(c[0] * c[1] for c in cases) or 1
    body = ", ".join(f"{{{a}, {b}}}" for a, b in cases)
    text = (f"/* generated by edgelstm/bench/kernels.py */\n#define KB_KERNEL {kid}\n#define KB_CASES {len(cases)}\n"
            f"#define KB_MAX_IN {max_in}\n#define KB_MAX_OUT {max_out}\n#define KB_MAX_W {max_w}\n"
            f"static const int32_t kb_cases[KB_CASES][2] = {{{body}}};\n")
    if kernel == "fc":  # weights in flash, as an export's are (the microbit has 16 KB of RAM)
        w = np.random.default_rng(1).integers(-127, 128, size=max_w)
        text += f"static const int8_t kb_weights[KB_MAX_W] = {{{', '.join(map(str, w))}}};\n"
    return text


def micro(kernel: str, core: str, work: Path) -> dict[str, Any]:
    """Instructions of one call per case, and the kernel's linked flash, on one core."""
    stem, _kid, cases, names, row = MICRO[kernel]
    src = RUNTIME / "src" / f"{stem}.c"
    if not src.is_file():
        return {"error": f"firmware_export/runtime/src/{stem}.c not found"}
    work.mkdir(parents=True, exist_ok=True)
    (work / "kernel_cases.h").write_text(_cases_header(kernel))
    incs = [work, RUNTIME / "include"]
    try:
        elf = qemu.build_firmware([BENCH_DIR / "kernel_bench.c", src], incs, core, work / "kb.elf")
    except ToolchainError:  # the kernel needs another runtime file: link them all, --gc-sections keeps what is used
        others = sorted(p for p in (RUNTIME / "src").glob("*.c") if p != src)
        try:
            elf = qemu.build_firmware([BENCH_DIR / "kernel_bench.c", src, *others], incs, core, work / "kb.elf")
        except ToolchainError as exc:
            lines = str(exc).splitlines()
            why = next((ln for ln in lines if "error" in ln and "collect2" not in ln), lines[-1])
            return {"error": f"{stem}.c did not build with the microbenchmark: {why.strip()[:200]}"}
    try:
        res = qemu.run_firmware(elf, core, b"", timeout_s=120)
    except TargetError as exc:
        return {"error": f"{stem} microbenchmark on {core}: {str(exc)[:200]}"}
    board = qemu.board_for(core)
    ticks = struct.unpack(f"<{len(cases)}Q", res.output[:8 * len(cases)])
    instr = [qemu.ticks_to_instructions(t, board) for t in ticks]
    terms, err = fit([row(a, b) for a, b in cases], instr, names)
    objs = qemu.object_sizes(elf)
    return {"terms": terms, "max_rel_error": round(err, 4), "shapes": len(cases), "cases": cases,
            "instructions": [round(v, 1) for v in instr],
            "flash_files": {stem: qemu.flash_bytes(objs[stem])} if stem in objs else {}}


# ------------------------------------------------------------------ exported recurrent layers

def recurrent(kind: str, core: str, say: Callable[[str], None]) -> dict[str, Any]:
    g = GATES[kind]
    y, flash, bad, errors, cases = [], {}, 0, [], []
    for s in SHAPES:
        r = run_spec(spec(kind, s), core, say=say)
        if "error" in r:
            errors.append(r["error"])
            continue
        bad += r["mismatches"]
        cases.append([s.input_size, s.hidden, s.steps])
        y.append(r["instructions_per_inference"])
        for stem, n in r["flash_bytes"].get("kernels", {}).items():
            flash[stem] = max(flash.get(stem, 0), n)
    if len(cases) < len(RECURRENT_TERMS) + 1:
        first = errors[0] if errors else ""
        return {"error": f"{len(cases)} of {len(SHAPES)} shapes ran, too few to fit; first: {first}"}
    terms, err, pad = fit_recurrent(cases, y, g)
    return {"terms": terms, "mac_padding": pad, "max_rel_error": round(err, 4), "shapes": len(cases),
            "cases": cases, "instructions": y, "flash_files": flash, "mismatches": bad, "errors": errors}


# ------------------------------------------------------------------ lstm requantization modes

#: el_lstm_s8_t.mode (export/lstm_s8.py kernel_mode): synthetic calibration gives "fast" exports; a real
#: model's may need "zero" or "any" (some requantization shifts 0 or left), which cost more per unit
LSTM_MODES = ("zero", "any")
MODE_SHAPES = (Shape(3, 8, 40), Shape(12, 20, 29))


def lstm_mode_terms(core: str, work: Path, say: Callable[[str], None] = print) -> dict[str, float]:
    """Extra instructions per unit per step of the "zero" and "any" modes over "fast", averaged over
    MODE_SHAPES: the fast export of each shape with its mode field switched (the slower modes compute
    the same integers for a fast layer's parameters; the outputs are still compared with TFLite Micro)."""
    from ..run.api import run_on_target
    from .exports import export_spec

    extra: dict[str, list[float]] = {m: [] for m in LSTM_MODES}
    for s in MODE_SHAPES:
        src = export_spec(spec("lstm", s), say=say)
        base = run_spec(spec("lstm", s), core, say=say)
        if "error" in base:
            continue
        for mode in LSTM_MODES:
            d = work / f"{core}-{s.hidden}-{s.steps}-{s.input_size}-{mode}"
            shutil.copytree(src, d, dirs_exist_ok=True)
            c = d / "hx_model.c"
            c.write_text(c.read_text().replace("EL_LSTM_S8_MODE_FAST", f"EL_LSTM_S8_MODE_{mode.upper()}"))
            r = run_on_target(d, core, n_vectors=3)
            if r["mismatches"]:
                continue
            extra[mode].append((r["instructions_per_inference"] - base["instructions_per_inference"])
                               / (s.steps * s.hidden))
    return {f"mode_{m}_per_unit": round(sum(v) / len(v), 4) for m, v in extra.items() if v}


# ------------------------------------------------------------------ the benchmark

def bench_kernels(say: Callable[[str], None] = print) -> tuple[str, list[dict], str]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgelstm-kernels-") as tmp:
        for core in CORES:
            board = qemu.board_for(core)
            per: dict[str, Any] = {}
            for kind in ("lstm", "gru"):
                per[kind] = recurrent(kind, core, say)
            if "error" not in per["lstm"]:
                per["lstm"]["modes"] = lstm_mode_terms(core, Path(tmp) / "modes", say)
            for kernel in MICRO:
                per[kernel] = micro(kernel, core, Path(tmp) / core / kernel)
            write_kernel_calibration(core, board.machine, per)
            rows.append({"core": core, "board": board.machine, "kernels": per})
    return ("per-kernel instruction costs (least-squares terms, written to profiles/<core>.toml "
            "[calibration.kernels])", rows, table(rows))


def table(rows: list[dict]) -> str:
    head = ("| core (QEMU board) | kernel | per call | per step | per unit | per input | per MAC | per element | "
            "flash | shapes | max rel err |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for r in rows:
        for name, k in r["kernels"].items():
            if "error" in k:
                lines.append(f"| {r['core']} ({r['board']}) | {name} | {k['error']} ||||||||| ")
                continue
            t = k["terms"]
            cell = lambda key: f"{t[key]:,.2f}" if key in t else ""  # noqa: E731
            mac = cell("per_mac") + (f" (pad {k['mac_padding']})" if k.get("mac_padding", 1) > 1 else "")
            lines.append(f"| {r['core']} ({r['board']}) | {name} | {cell('per_call')} | {cell('per_step')} | "
                         f"{cell('per_unit')} | {cell('per_input')} | {mac} | {cell('per_element')} | "
                         f"{sum(k['flash_files'].values()):,} B | {k['shapes']} | {k['max_rel_error']:.2%} |")
    lines += ["", "Terms in instructions (QEMU -icount), fitted on relative error; lstm/gru: a whole hx_run of an "
              "exported `lstm:H@T/I` / `gru:H@T/I` (T steps) = per call + T x (per step + per unit x H + per input x "
              "I + per MAC x G H (pad(I) + pad(H))), G = 4 / 3, pad = round up to the `pad` multiple; fc: one "
              "vector, per unit = per output; softmax/lut/add/mul: per element. Flash: the kernel's source files "
              "in the linked ELF, tables included."]
    return "\n".join(lines)


# ------------------------------------------------------------------ profiles/<core>.toml

def render_kernels(machine: str, per: dict[str, Any]) -> str:
    out = ["[calibration.kernels]", KERNEL_DOC,
           f'board = "{machine}"',
           f'date = "{time.strftime("%Y-%m-%d")}"',
           'source = "make bench: QEMU -icount shift=10 SysTick instruction counts, gcc -O2, relative least squares"',
           ""]
    for name, k in per.items():
        if "error" in k:
            out += [f"# {name}: not measured ({k['error']})", ""]
            continue
        out.append(f"[calibration.kernels.{name}]")
        out.append(f'counts = "{COUNTS[name]}"')
        out += [f"{key} = {val!r}" for key, val in k["terms"].items()]
        if "mac_padding" in k:
            out.append(f"mac_padding = {k['mac_padding']}")
        out += [f"{key} = {val!r}" for key, val in k.get("modes", {}).items()]
        files = ", ".join(f"{stem} = {n}" for stem, n in sorted(k["flash_files"].items()))
        out += [f"flash_bytes = {sum(k['flash_files'].values())}", f"flash_files = {{ {files} }}",
                f"shapes = {k['shapes']}", f"max_rel_error = {k['max_rel_error']!r}", ""]
    return "\n".join(out)


def write_kernel_calibration(core: str, machine: str, per: dict[str, Any], path: Path | None = None) -> Path:
    """Replace the [calibration.kernels] tables of profiles/<core>.toml (from the first [calibration.kernels...]
    header to the next table that is not one of them) with fresh ones, or append them. The comments live
    inside the tables, so edgelstm run's rewrite of [calibration] (profile.targets) leaves them alone."""
    path = path or PROFILES / f"{core}.toml"
    lines = path.read_text().splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith("[calibration.kernels")), None)
    if start is None:
        kept_head, kept_tail = lines, []
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")
                    and not lines[i].startswith("[calibration.kernels")), len(lines))
        kept_head, kept_tail = lines[:start], lines[end:]
    while kept_head and not kept_head[-1].strip():
        kept_head.pop()
    text = "\n".join(kept_head + ["", render_kernels(machine, per).rstrip(), ""] +
                     (kept_tail + [""] if kept_tail else []))
    tomllib.loads(text)  # never write a broken profile
    path.write_text(text)
    return path
