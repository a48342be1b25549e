"""inspect(): one quantized artifact beside its float model -> the debugger's report dictionary."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..convert import metrics, rules, runners, verdict
from ..errors import DataError, ModelError, UnsupportedCombination
from . import analysis, traces

#: Sequences run through the float model and the artifact (every tensor of every step is kept).
DEFAULT_SAMPLES = 16


def manifest_entry(path: Path) -> dict[str, Any] | None:
    """The artifact's entry in the manifest.json beside it (written by `edgelstm convert`), if any."""
    man = path.parent / "manifest.json"
    if not man.is_file():
        return None
    try:
        data = json.loads(man.read_text())
    except (json.JSONDecodeError, OSError) as exc:
        raise DataError(f"{man} is not readable JSON ({exc}); re-run `edgelstm convert`") from None
    for a in data.get("artifacts", []):
        if Path(a["path"]).name == path.name:
            return dict(a, model=data.get("model", {}))
    return None


def describe_artifact(path: Path, variant: str | None) -> dict[str, Any]:
    """format, variant and quant of an artifact: from its manifest entry, or from the file and --variant."""
    if not path.is_file():
        raise DataError(f"artifact not found: {path}; pass a .tflite or .onnx written by `edgelstm convert`")
    fmt = {".tflite": "tflite", ".onnx": "onnx"}.get(path.suffix)
    if fmt is None:
        raise DataError(f"{path.name} is not a .tflite or .onnx file; inspect an artifact of `edgelstm convert`")
    entry = manifest_entry(path) or {}
    variant = variant or entry.get("variant")
    if variant not in rules.VARIANTS:
        raise DataError(f"cannot tell the variant of {path.name} (no manifest.json beside it); pass "
                        f"--variant {'|'.join(rules.VARIANTS)}")
    return {"format": fmt, "variant": variant, "quant": entry.get("quant", ""), "entry": entry}


def inspect(path: str | Path, model: Any, x: np.ndarray, variant: str | None = None) -> dict[str, Any]:
    """Run the artifact and the float model on x (N, T, F); per-tensor errors, ranges, saturation, culprits."""
    path = Path(path)
    info = describe_artifact(path, variant)
    desc = model.desc
    data = path.read_bytes()
    fmt, variant = info["format"], info["variant"]
    masked_note = ""
    if desc.mask_value is not None:
        # The traces follow every step of every sample; the deployed model skips masked steps. Samples
        # without a masked step are where both agree.
        full = ~desc.step_mask(x).any(axis=1)
        if not full.any():
            raise UnsupportedCombination(
                f"every sample has masked steps (all features = {desc.mask_value:g}) and inspect traces every step "
                "(it cannot skip them); pass --data with some unpadded sequences")
        masked_note = (f"Masking: {int(full.sum())} of {len(x)} samples have no masked step and were inspected "
                       "(the traces follow every step)")
        x = x[full]
    fused = rules.uses_fused_lstm(desc, fmt, variant)
    try:
        if fmt == "tflite":
            qz = traces.tflite_fused(data, desc, x) if fused else traces.tflite_lowered(data, x, variant == "stateful")
        elif variant == "sequence":
            qz = traces.Quantized({}, {}, ["ONNX LSTM/GRU ops run in float in onnxruntime (QDQ quantizes around "
                                           "them): only the model output is compared"])
        else:
            qz = traces.onnx_qdq(data, x, variant == "stateful")
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"cannot run {path.name} ({str(exc).splitlines()[0][:200]}); inspect an artifact "
                         "written by `edgelstm convert` for this model") from None
    if not qz.params and fmt == "tflite" and not fused:
        raise UnsupportedCombination(f"{path.name} has no quantized tagged tensors (a float artifact, or not "
                                     "converted by this edgelstm); inspect an int8 artifact")
    ft = traces.float_trace(desc, x)
    if "input" in qz.params and "input" not in qz.trace:  # what the artifact is fed: x quantized
        qz.trace["input"] = qz.params["input"].fake(ft["input"])
    engine = "onnxruntime" if fmt == "onnx" else "litert"
    got = runners.run_artifact(engine, data, variant, x, desc.output_is_sequence, desc.mask_value)
    want = model.predict(x)
    out_p = _output_param(fmt, data)
    out_info = out_p.scale if out_p else None
    if "output" not in qz.trace:  # the artifact's own output, as the float trace holds it
        qz.trace["output"] = np.moveaxis(got, 1, 0) if desc.output_is_sequence else got[None]
        if out_p:
            qz.params["output"] = out_p
    m = metrics.compare(got, want, None, out_info, desc.output_is_class_scores)
    lsb = verdict.lsb_size(out_info, float(want.max() - want.min()))
    status, reasons = verdict.judge_engine(m, lsb)
    output = {"engine": engine, "max_abs_error": m["max_abs_error"], "cosine": m["cosine_overall"],
              "cosine_worst_sample": m["cosine_similarity"],
              "error_lsb": m["max_abs_error"] / lsb, "lsb": lsb, "verdict": status, "reasons": reasons}
    report = analysis.analyse(desc, x, ft, qz, output)
    report.update(artifact=str(path), format=fmt, variant=variant, quant=info["quant"] or _quant_of(qz),
                  model=desc.name, samples=int(len(x)), seq_len=desc.seq_len)
    if masked_note:
        report.setdefault("notes", []).append(masked_note)
    return report


def _output_param(fmt: str, data: bytes) -> traces.QParam | None:
    if fmt != "tflite":
        return None
    out = runners.LiteRTEngine(data).outputs[0]
    return traces.qparam(out.dtype, out.scale, out.zero_point) if out.scale else None


def _quant_of(qz: traces.Quantized) -> str:
    kinds = {p.dtype for p in qz.params.values()}
    return "int8" if "int8" in kinds else ",".join(sorted(kinds)) or "float"
