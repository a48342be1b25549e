"""``edgelstm inspect``: the quantization debugger on one artifact."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import DataError


def register(sub: Any) -> None:
    p = sub.add_parser("inspect", help="quantization debugger: per-tensor error, ranges and saturation of an artifact",
                       description="Run a quantized .tflite/.onnx beside the float Keras model and report, for every "
                                   "gate pre-activation, gate, cell and hidden tensor at every timestep, the error, "
                                   "the calibrated range against the range seen, and the saturation rate; name the "
                                   "tensors that cause the output error.")
    p.add_argument("artifact", help="a .tflite or .onnx written by `edgelstm convert` (manifest.json beside it)")
    p.add_argument("--model", help="the Keras model (default: the source recorded in the manifest)")
    p.add_argument("--demo", choices=("lstm", "gru"), help="the artifact comes from the bundled demo model")
    p.add_argument("--data", help="inputs .npy (N, T, F) or .npz with x (default: the manifest's validation data)")
    p.add_argument("--variant", help="sequence, unrolled or stateful (default: from the manifest)")
    p.add_argument("--samples", type=int, default=16, help="sequences to run (default 16)")
    p.add_argument("-o", "--out", help="also write report.json, report.html and errors.png into this folder")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def _model_and_data(args: argparse.Namespace, entry: dict) -> tuple[Any, Any]:
    from ..data import load_dataset
    from ..load import demo_model, load_model

    source = entry.get("model", {}).get("source", "")
    if args.demo:
        model = demo_model(args.demo)
    elif args.model or source:
        try:
            model = load_model(args.model or source)
        except DataError:
            raise
    else:
        raise DataError("no model: pass --model the Keras file the artifact was converted from")
    if args.data:
        data = load_dataset(args.data, model.desc)
    elif getattr(model, "validation", None) is not None:
        data = model.validation
    else:
        val = entry.get("model", {}).get("validation", {}).get("source", "")
        if not val or not Path(val).is_file():
            raise DataError("no inputs: pass --data inputs.npy (N, T, F), ideally the calibration or validation data")
        data = load_dataset(val, model.desc)
    return model, data


def run(args: argparse.Namespace) -> int:
    from .api import describe_artifact, inspect
    from .report import render_text, write

    if args.samples < 1:
        raise DataError(f"--samples {args.samples}: pass at least 1")
    info = describe_artifact(Path(args.artifact), args.variant)
    model, data = _model_and_data(args, info["entry"])
    x = data.x
    if model.desc.mask_value is not None:  # Masking: inspect traces samples without masked steps (api.inspect)
        full = ~model.desc.step_mask(x).any(axis=1)
        x = x[full] if full.any() else x
    report = inspect(args.artifact, model, x[: args.samples], args.variant)
    if args.out:
        files = write(report, Path(args.out))
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print(render_text(report))
        if args.out:
            print(f"\nreport: {files[1]}")
    return 0
