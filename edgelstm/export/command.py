"""``edgelstm export``: C for microcontrollers (TFLite Micro array + standalone runtime)."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from ..convert.command import add_model_args, resolve_model_and_calib
from ..data import load_dataset


def register(sub: Any) -> None:
    p = sub.add_parser("export", help="generate C for a microcontroller and check it against TFLite Micro",
                       description="Convert the model and write a self-contained C folder: the .tflite as an aligned "
                                   "C array (TFLite Micro drop-in) and a standalone C99 runtime (no malloc) that is "
                                   "bit-exact with TFLite Micro's int8 kernels, checked on the host before writing.")
    add_model_args(p)
    p.add_argument("--quant", choices=("int8", "float32"), default="int8", help="int8 (default) or float32")
    p.add_argument("--variant", choices=("sequence", "stateful"), default="sequence",
                   help="sequence (hx_run over a whole window, default) or stateful (hx_step per sample; the "
                        ".tflite array is the step model)")
    p.add_argument("--target", default="cortex-m4", help="profile name in profiles/ (default cortex-m4)")
    p.add_argument("--name", default="hx", help="C prefix of every generated symbol (default hx)")
    p.add_argument("--validation", help="validation data (.npy/.npz) for the checks; default: the calibration data")
    p.add_argument("--build", action="store_true", help="cross-compile for --target and report flash and RAM")
    p.add_argument("--no-check", action="store_true", help="skip the host check against TFLite Micro")
    p.add_argument("-o", "--out", default="export", help="output folder (default export/)")
    p.add_argument("--json", action="store_true", help="print export.json on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..progress import Progress
    from .api import export

    model, calib = resolve_model_and_calib(args)
    val = load_dataset(args.validation, model.desc) if args.validation else getattr(model, "validation", None)
    command = "edgelstm " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with Progress(6, "export", enabled=not args.json) as bar:
        info = export(model, args.out, quant=args.quant, variant=args.variant, target=args.target, name=args.name,
                      calib=calib, validation=val, check=not args.no_check, build=args.build, command=command,
                      progress=bar.step)
    if args.json:
        json.dump(info, sys.stdout, indent=2)
        print()
        return 0
    print(render(info))
    return 0


def render(info: dict) -> str:
    a, n = info["api"], info["name"]
    lines = [f"exported {info['model']['name']} ({info['quant']}, {info['variant']}) to {info['out_dir']}/",
             f"  C API     {', '.join(a['functions'])}   state struct {info['memory']['state_struct_bytes']} B "
             f"(arena {info['memory']['arena_bytes']} B)",
             f"  files     {n}_model.h/.c, {n}_model_data.h/.c ({info['files']['tflite']} for TFLite Micro), "
             f"runtime/ ({len(info['files']['runtime'])} kernels), {n}.mk, CMakeLists.txt"]
    for r in info.get("host_check", []):
        how = "bit-exact" if a["dtype"] == "int8" else f"max rel diff {r['max_rel_diff']:.1e}"
        lines.append(f"  check     {n}_{r['mode']} vs TFLite Micro on {r['vectors']} vectors: {r['mismatches']} "
                     f"mismatches of {r['elements']} outputs ({how})")
    b = info.get("build")
    if b:
        f, r = b["flash_bytes"], b["ram_bytes"]
        lines.append(f"  {b['target']:<9} flash model {f['model']} B + runtime {f['runtime']} B = {f['total']} B; "
                     f"RAM state {r['state']} B + static {r['static']} B = {r['total']} B "
                     f"({b['compiler']} {' '.join(b['cflags'])})")
    return "\n".join(lines)
