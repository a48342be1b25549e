"""Conversion benchmark: every variant x quant x format of the demo LSTM and GRU: time, size, error."""
from __future__ import annotations

import tempfile


def bench_convert() -> tuple[str, list[dict], str]:
    from ..convert.api import convert
    from ..demo import demo_model

    rows = []
    for kind in ("lstm", "gru"):
        model = demo_model(kind)
        with tempfile.TemporaryDirectory() as tmp:
            man = convert(model, tmp, ("tflite", "onnx"), ("sequence", "unrolled", "stateful"), ("float32", "int8"),
                          calib=model.calib, validation=model.validation)
        for a in man.artifacts:
            ref = a["metrics"].get("tflm") if a["format"] == "tflite" else a["metrics"]["onnxruntime"]
            rows.append({"model": f"demo {kind}", "format": a["format"], "variant": a["variant"], "quant": a["quant"],
                         "size_bytes": a["size_bytes"], "convert_seconds": a["convert_seconds"],
                         "max_abs_error": ref.get("max_abs_error") if ref else None,
                         "accuracy": ref.get("accuracy") if ref else None})
    head = "| model | format | variant | quant | size | convert (s) | max abs error | accuracy |\n|---|---|---|---|---:|---:|---:|---:|"
    lines = [head] + [f"| {r['model']} | {r['format']} | {r['variant']} | {r['quant']} | {r['size_bytes'] / 1024:.1f} KB | "
                      f"{r['convert_seconds']:.1f} | {r['max_abs_error']:.2e} | {r['accuracy']:.3f} |" for r in rows]
    return "conversion (error: TFLite Micro for .tflite, onnxruntime for .onnx, vs Keras on the 40 test sequences)", rows, "\n".join(lines)
