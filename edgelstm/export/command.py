"""``edgelstm export``: C for microcontrollers (TFLite Micro array + standalone runtime)."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import Any

from ..convert.command import add_model_args, resolve_inputs


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
    p.add_argument("--build", action="store_true", help="cross-compile for --target and report flash and RAM; "
                   "an export that does not fit the target's flash or RAM is an error")
    p.add_argument("--allow-oversize", action="store_true",
                   help="with --build: write an export that does not fit the target anyway (a warning, exit 0)")
    p.add_argument("--no-check", action="store_true", help="skip the host check against TFLite Micro")
    p.add_argument("--force", action="store_true",
                   help="write C even from an artifact whose verdict against the float model is broken")
    p.add_argument("--strict", action="store_true", help="exit 7 when the artifact is degraded (or broken)")
    p.add_argument("-o", "--out", default="export", help="output folder (default export/)")
    p.add_argument("--json", action="store_true", help="print export.json on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..outdir import check_replaceable, locked
    from ..profile.targets import load_target
    from ..progress import Progress
    from .api import check_name, export

    # Everything that can be checked without converting is checked first: conversion takes minutes.
    check_name(args.name)
    target = load_target(args.target)
    check_replaceable(args.out, marker="export.json")
    with locked(args.out):  # a second export into the same folder fails now, not after its conversion
        model, calib, val = resolve_inputs(args)
        if args.build and not args.allow_oversize:
            from .build import check_weights_fit

            check_weights_fit(model.desc, args.quant, target)
        command = "edgelstm " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        with Progress(6, "export", enabled=not args.json) as bar:
            info = export(model, args.out, quant=args.quant, variant=args.variant, target=args.target,
                          name=args.name, calib=calib, validation=val, check=not args.no_check, build=args.build,
                          command=command, progress=bar.step, allow_oversize=args.allow_oversize,
                          force=args.force, strict=args.strict)
    for warning in info.get("build", {}).get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    v = info.get("verdict", {})
    if v.get("status", "ok") != "ok":
        print(f"warning: the exported {info['variant']} {info['quant']} model is {v['status'].upper()} against the "
              f"float model ({'; '.join(v['reasons'])}); `edgelstm convert` + `edgelstm inspect` show why",
              file=sys.stderr)
    if args.json:
        json.dump(info, sys.stdout, indent=2)
        print()
        return 0
    print(render(info))
    return 0


def render(info: dict) -> str:
    a, n = info["api"], info["name"]
    lines = [f"exported {info['model']['name']} ({info['quant']}, {info['variant']}) to {info['out_dir']}/",
             f"  C API     {', '.join(a['functions'])}   state struct {info['memory']['state_struct_bytes']} B, "
             f"scratch {n.upper()}_SCRATCH_BYTES {info['memory']['scratch_bytes']} B "
             f"(activations {info['memory']['arena_bytes']} B)",
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
                     f"RAM state {r['state']} B + scratch {r.get('scratch', 0)} B + static {r['static']} B = "
                     f"{r['total']} B "
                     f"({b['compiler']} {' '.join(b['cflags'])})")
    return "\n".join(lines)
