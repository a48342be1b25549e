"""``edgelstm convert``: a Keras model to validated TFLite / ONNX artifacts."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Dataset, check_dataset, load_dataset
from ..errors import DataError
from . import rules

#: Longest --seq-len accepted (a microcontroller model runs a fixed, modest number of timesteps).
MAX_SEQ_LEN = 100_000


def seq_len_type(text: str) -> int:
    """argparse type of --seq-len: a whole number of timesteps, 1 .. MAX_SEQ_LEN."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of timesteps, got '{text}'") from None
    if not 1 <= n <= MAX_SEQ_LEN:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_SEQ_LEN:,} timesteps, got {n}")
    return n


class AllOf(list):
    """``all`` on the command line: every value (a command may narrow it to what the model supports)."""


def _csv(allowed: tuple[str, ...]) -> Any:
    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if items == ["all"]:
            return AllOf(allowed)
        for t in items:
            if t not in allowed:
                raise argparse.ArgumentTypeError(f"'{t}' is not one of {', '.join(allowed)} (or all)")
        return items
    return parse


def add_model_args(p: argparse.ArgumentParser) -> None:
    """MODEL / --demo / --seq-len / --calib / --synthetic-calib: shared by convert, export and profile."""
    p.add_argument("model", nargs="?", help=".keras / .h5 file, or a spec such as lstm:16,dense:4@100/6")
    p.add_argument("--demo", choices=("lstm", "gru"), help="use the bundled BasicMotions demo model instead of MODEL")
    p.add_argument("--seq-len", type=seq_len_type,
                   help="timesteps per inference (required if the model's is variable)")
    p.add_argument("--calib", help="calibration data: .npy (N, T, F) or .npz with x (and y)")
    p.add_argument("--synthetic-calib", action="store_true",
                   help="calibrate on random normal data (explicit opt-in: accuracy will be poor)")


def resolve_inputs(args: argparse.Namespace) -> tuple[Any, Dataset | None, Dataset | None]:
    """(model, calibration data, validation data) of convert/export. The data files are read and checked
    (readable, float, 3-D, finite) before the model loads, and against its input shape, then for spread, after."""
    calib_file = load_dataset(args.calib, check_spread=False) if args.calib else None
    val_file = load_dataset(args.validation, check_spread=False) if args.validation else None
    model, calib = resolve_model_and_calib(args, calib_file)
    val = check_dataset(val_file, model.desc) if val_file is not None else getattr(model, "validation", None)
    return model, calib, val


def resolve_model_and_calib(args: argparse.Namespace, calib_file: Dataset | None = None
                            ) -> tuple[Any, Dataset | None]:
    """The model and its calibration data; ``calib_file``: args.calib already read by load_dataset."""
    from ..load import demo_model, load_model

    if args.demo:
        model = demo_model(args.demo)
        calib = model.calib if args.calib is None else None
    elif args.model:
        model, calib = load_model(args.model, seq_len=args.seq_len), None
    else:
        raise DataError("no model given: pass a .keras/.h5 file, a spec like lstm:16,dense:4, or --demo lstm")
    if args.calib:
        calib = check_dataset(calib_file or load_dataset(args.calib), model.desc)
    elif calib is None and args.synthetic_calib:
        d = model.desc
        calib = Dataset(np.random.default_rng(0).normal(size=(32, d.seq_len, d.input_size)).astype(np.float32),
                        None, "synthetic (random normal)")
    return model, calib


def register(sub: Any) -> None:
    p = sub.add_parser("convert", help="convert to TFLite / ONNX and validate every artifact",
                       description="Convert a Keras LSTM/GRU model to TFLite and ONNX in the requested variants and "
                                   "quantizations; run each artifact and compare it with the Keras float model.")
    add_model_args(p)
    p.add_argument("--quant", type=_csv(rules.QUANTS), default=["float32", "int8"],
                   help="comma list of float32,float16,dynamic,int8,int16x8 or all (default float32,int8)")
    p.add_argument("--variant", type=_csv(rules.VARIANTS), default=None,
                   help="comma list of sequence,unrolled,stateful or all (default sequence; models with Masking: "
                        "stateful, and all means stateful)")
    p.add_argument("--format", type=_csv(rules.FORMATS), default=["tflite"], help="tflite,onnx or all (default tflite)")
    p.add_argument("--validation", help="validation data (.npy/.npz); default: the calibration data")
    p.add_argument("-o", "--out", default="out", help="output folder (default out/)")
    p.add_argument("--lstm-cell", choices=rules.LSTM_CELLS, default="int16",
                   help="cell state of lowered int8 LSTMs (unrolled, GRU mixes, ONNX): int16 (default; an int8 "
                        "cell collapses over long sequences; relu GRUs also keep their activations in int16) or "
                        "int8 (for int8-only accelerators: every activation int8)")
    p.add_argument("--strict", action="store_true",
                   help="exit 7 when any artifact is degraded or broken against the float model "
                        "(the artifacts are still written, for `edgelstm inspect`)")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..outdir import Replacement
    from ..progress import Progress
    from .api import convert
    from .table import render

    # The output folder is checked and locked before the model loads: conversion takes minutes.
    with Replacement(args.out, marker="manifest.json") as out:
        model, calib, val = resolve_inputs(args)
        args.variant = rules.default_variants(model.desc, args.variant, isinstance(args.variant, AllOf))
        total = len(args.quant) * len(args.variant) * len(args.format)
        with Progress(total * 2, "convert", enabled=not args.json) as bar:
            manifest = convert(model, out.new, args.format, args.variant, args.quant, calib=calib, validation=val,
                               progress=bar.step, lstm_cell=args.lstm_cell)
        out.commit()
    for art in manifest.artifacts:
        art["path"] = str(Path(args.out) / Path(art["path"]).name)
    if args.json:
        json.dump(manifest.to_dict(), sys.stdout, indent=2)
        print()
    else:
        print(render(manifest))
        print(f"\nmanifest: {Path(args.out) / 'manifest.json'}")
    report_verdicts(manifest.artifacts, args.strict)
    return 0


def report_verdicts(artifacts: list[dict], strict: bool) -> None:
    """A warning line on stderr per degraded or broken artifact; with ``strict`` a QualityError if any."""
    from ..errors import QualityError
    from . import verdict

    lines = verdict.warnings(artifacts)
    for line in lines:
        print(f"warning: {line}", file=sys.stderr)
    if strict and lines:
        worst = verdict.worst(artifacts)
        raise QualityError(f"{len(lines)} artifact(s) degraded or broken (worst: {worst}) and --strict is set; "
                           "see the warnings above, or `edgelstm inspect` the artifact")
