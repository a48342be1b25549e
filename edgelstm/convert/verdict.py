"""The verdict on an artifact, from its error against the Keras float model: ok, degraded or broken.

The error is measured in output LSB: steps of the artifact's int8 output scale, or, for an
artifact with float outputs, 1/255 of the range the Keras model's outputs span on the validation
data (what one int8 step of that output would be). The cosine is that of all validation outputs
taken as one vector (a single sample whose outputs are all near zero says little). Thresholds,
checked in every interpreter that runs the artifact (the worst one decides):

=========  ==========================================================================
broken     cosine similarity < 0.95, or error > 64 LSB (a quarter of the int8 range),
           or accuracy 10 or more points below the Keras model's
degraded   cosine < 0.995, or error > 16 LSB, or accuracy 2 or more points below
ok         otherwise (the demo models' int8 artifacts: 0.7 to 9 LSB, cosine > 0.999)
=========  ==========================================================================

The error is the largest one, except for class scores (several outputs per series, whose
argmax is compared with Keras'). There one series near a decision boundary can move its scores
by a quarter of the range while every decision holds, and one series in hundreds may change
class where another interpreter's rounding keeps it; what such an artifact gets wrong is how
often it decides otherwise than Keras. So the error is the one 95 % of the series stay within
(the largest below 20 series), and the limit also applies to each class the artifact changed,
as the margin by which Keras held it: "error > 64 LSB" is also more than 2 % of the series, and
two or more, changing a class Keras held by more than 64 LSB (a collapse: sure decisions
overturned), and "error > 16 LSB" more than 1 % changing one held by more than 16 LSB. A class
Keras held by less is a near tie (an untrained model's scores are all near ties): changing it
says nothing of the artifact.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .metrics import SERIES_QUANTILE

OK, DEGRADED, BROKEN = "ok", "degraded", "broken"
_RANK = {OK: 0, DEGRADED: 1, BROKEN: 2}


@dataclass(frozen=True)
class Limits:
    cosine: float
    lsb: float
    accuracy_drop: float
    overturned: float  # class scores: the share that may change a class Keras held by more than `lsb`
    overturned_series: int  # ... and the number of series that always may


LIMITS = {BROKEN: Limits(cosine=0.95, lsb=64.0, accuracy_drop=0.10, overturned=0.02, overturned_series=1),
          DEGRADED: Limits(cosine=0.995, lsb=16.0, accuracy_drop=0.02, overturned=0.01, overturned_series=0)}


def lsb_size(output_scale: float | None, output_range: float) -> float:
    """One output LSB (see the module docstring)."""
    return output_scale if output_scale else max(output_range, 1e-12) / 255.0


def judge_engine(metrics: dict, lsb: float) -> tuple[str, list[str]]:
    """(verdict, reasons) of one engine's metrics; lsb: the size of one output LSB."""
    drop = metrics["keras_accuracy"] - metrics["accuracy"] if "accuracy" in metrics else 0.0
    cos = float(metrics.get("cosine_overall", metrics["cosine_similarity"]))
    classes = bool(metrics.get("class_scores"))
    error = float(metrics["series_error_p95" if classes else "max_abs_error"]) / lsb
    margins = [float(v) / lsb for v in metrics.get("changed_margins", [])] if classes else []
    series = max(int(metrics.get("samples", 1)), 1)
    for status in (BROKEN, DEGRADED):
        lim = LIMITS[status]
        reasons = []
        if cos < lim.cosine:
            reasons.append(f"cosine {cos:.3f} < {lim.cosine}")
        if error > lim.lsb and classes:
            reasons.append(f"error > {lim.lsb:.0f} LSB in over {100 * (1 - SERIES_QUANTILE):.0f} % of series "
                           f"({error:.0f} LSB at the {100 * SERIES_QUANTILE:.0f}th percentile)")
        elif error > lim.lsb:
            reasons.append(f"max error {error:.0f} LSB > {lim.lsb:.0f}")
        overturned = sum(v > lim.lsb for v in margins)
        if overturned > max(lim.overturned * series + 1e-9, lim.overturned_series):
            reasons.append(f"{overturned} of {series} series change a class Keras held by > {lim.lsb:.0f} LSB "
                           f"(up to {max(margins):.0f})")
        if drop >= lim.accuracy_drop - 1e-9:
            reasons.append(f"accuracy {100 * drop:.1f} points below Keras")
        if reasons:
            return status, reasons
    return OK, []


def judge(artifact: dict, output_range: float) -> dict[str, Any]:
    """The artifact's verdict over every engine that ran it: {status, engine, reasons, error_lsb, cosine}."""
    scale = (artifact.get("outputs") or [{}])[0].get("scale") or None
    step = lsb_size(scale, output_range)
    worst: dict[str, Any] = {"status": OK, "engine": "", "reasons": [], "error_lsb": 0.0, "cosine": 1.0}
    for engine, m in artifact.get("metrics", {}).items():
        if not isinstance(m, dict) or not m.get("supported", True) or "max_abs_error" not in m:
            continue
        lsb = float(m["max_abs_error"]) / step  # the largest error, shown and compared whatever decided
        status, reasons = judge_engine(m, step)
        if (_RANK[status], lsb) > (_RANK[worst["status"]], worst["error_lsb"]):
            worst = {"status": status, "engine": engine, "reasons": reasons, "error_lsb": round(lsb, 2),
                     "cosine": round(float(m.get("cosine_overall", m["cosine_similarity"])), 6)}
    return worst


def alternative(artifacts: list[dict], bad: dict) -> str:
    """What to use instead of a degraded or broken artifact: the most accurate ok one, preferring the same
    format and quantization; otherwise general advice."""
    ok = [a for a in artifacts if a.get("verdict", {}).get("status") == OK]
    ok.sort(key=lambda a: (a["quant"] != bad["quant"], a["format"] != bad["format"], a["verdict"]["error_lsb"]))
    if ok:
        best = ok[0]
        name = str(best["path"]).rsplit("/", 1)[-1]
        return f"use {name} ({best['verdict']['error_lsb']:.1f} LSB) instead"
    masked = any(str(n).startswith("Masking:") for n in bad.get("notes", []))
    if bad["quant"] in ("int8", "int16x8", "dynamic") and masked:  # Masking: only the stateful graph exists
        return "try more representative --calib data, or --quant float16/float32"
    if bad["quant"] in ("int8", "int16x8", "dynamic"):
        return ("try --variant sequence (LSTM: the fused op keeps its cell in int16), more representative "
                "--calib data, or --quant float16/float32")
    return "check the model and the calibration data"


def warnings(artifacts: list[dict]) -> list[str]:
    """One line per degraded or broken artifact, naming what to use instead."""
    out = []
    for a in artifacts:
        v = a.get("verdict")
        if not v or v["status"] == OK:
            continue
        name = str(a["path"]).rsplit("/", 1)[-1]
        out.append(f"{name} is {v['status'].upper()} ({'; '.join(v['reasons'])} in {v['engine']}): "
                   f"{alternative(artifacts, a)}; `edgelstm inspect {a['path']}` shows which tensors lose it")
    return out


def worst(artifacts: list[dict]) -> str:
    return max((a.get("verdict", {}).get("status", OK) for a in artifacts), key=_RANK.__getitem__, default=OK)
