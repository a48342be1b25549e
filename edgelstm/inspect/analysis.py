"""Per-tensor statistics of a quantized trace against the float trace, and the culprits.

For each tag (steps aligned from the end: a step graph computes its head every step, the
sequence graph once):
  max_error_lsb    max |quantized - float| in steps of the tensor's own scale
  rel_rmse         RMS error over the RMS of the float values (0.01 = 1 %), and per step
  calibrated       the range the quantization can represent; seen: the float values' range
  saturation       share of float values outside the representable range (clipped)
  diverges_at      first step whose relative error exceeds 10 %
  what_if_float    the simulated output error with this one tensor kept in float
A culprit is a tensor whose float copy removes at least half of the simulated output error. When
no single tensor does (a recurrence whose error needs two rounding steps, such as f*c and c, to
compound), pairs of tensors of one layer are tried and the best pair that removes half is named.
Any tensor that saturates on more than 1 % of its values is a culprit too.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from itertools import combinations
from typing import Callable

from .simulate import output_error
from .traces import Quantized, Trace, tag_order

REL_DIVERGED = 0.10
SATURATION_CULPRIT = 0.01


def _align(f: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = min(len(f), len(q))
    return f[len(f) - s:], q[len(q) - s:].reshape(f[len(f) - s:].shape)


def tensor_rows(ft: Trace, qz: Quantized) -> list[dict[str, Any]]:
    rows = []
    for tag in tag_order(ft):
        if tag not in qz.trace or tag not in ft:
            continue
        f, q = _align(ft[tag], qz.trace[tag])
        err = q - f
        p = qz.params.get(tag)
        rms_f = float(np.sqrt((f ** 2).mean())) if f.size else 0.0
        floor = max(rms_f, p.scale if p else 1e-12, 1e-12)
        per_step = np.sqrt((err ** 2).reshape(len(err), -1).mean(axis=1)) / floor
        row: dict[str, Any] = {
            "tag": tag, "dtype": p.dtype if p else "float", "scale": p.scale if p else None,
            "zero_point": p.zero_point if p else None,
            "calibrated": [round(v, 6) for v in p.range] if p else None,
            "seen": [round(float(f.min()), 6), round(float(f.max()), 6)],
            "steps": int(len(f)),
            "max_error": float(np.abs(err).max()),
            "max_error_lsb": float(np.abs(err).max() / p.scale) if p else None,
            "rel_rmse": float(np.sqrt((err ** 2).mean()) / floor),
            "rel_rmse_per_step": [round(float(v), 5) for v in per_step],
            "saturation": 0.0,
        }
        if p:
            lo, hi = p.range
            row["saturation"] = float(((f < lo - p.scale / 2) | (f > hi + p.scale / 2)).mean())
        over = np.nonzero(per_step > REL_DIVERGED)[0]
        row["diverges_at"] = int(over[0]) if len(over) and len(f) > 1 else None
        rows.append(row)
    return rows


def _diverges(r: dict) -> str:
    return f"; its error passes 10 % at step {r['diverges_at']}" if r.get("diverges_at") is not None else ""


def culprits(rows: list[dict], sim_error: float, output_lsb: float,
             err: Callable[[frozenset[str]], float]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    if sim_error > 4 * output_lsb:
        scored = sorted((r for r in rows if r.get("what_if_float") is not None), key=lambda r: r["what_if_float"])
        strong = [r for r in scored if r["what_if_float"] <= 0.5 * sim_error]
        for r in strong:
            out.append({"tag": r["tag"], "error_if_float": r["what_if_float"],
                        "why": f"in float it cuts the simulated output error from {sim_error:.3g} to "
                               f"{r['what_if_float']:.3g}" + _diverges(r)})
        if not strong:
            out += _pair_culprits(rows, sim_error, err)
    for r in rows:
        fixed = r["tag"] == "output" or r["tag"].endswith((".act", ".tc"))  # ranges the kernels fix
        if not fixed and r["saturation"] > SATURATION_CULPRIT and all(c["tag"] != r["tag"] for c in out):
            out.append({"tag": r["tag"], "why": f"{100 * r['saturation']:.1f} % of its values fall outside the "
                                               f"calibrated range {r['calibrated']} (seen {r['seen']})"})
    return out


def _pair_culprits(rows: list[dict], sim_error: float, err: Callable[[frozenset[str]], float]) -> list[dict]:
    """The pair of one layer's tensors whose float copies together remove the most error (at least half)."""
    by_layer: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("what_if_float") is not None and not r["tag"].endswith((".act", ".tc")) and "." in r["tag"]:
            by_layer.setdefault(r["tag"].split(".")[0], []).append(r)
    best: tuple[float, tuple[dict, dict]] | None = None
    for members in by_layer.values():
        for a, b in combinations(members, 2):
            e = err(frozenset({a["tag"], b["tag"]}))
            if best is None or e < best[0]:
                best = (e, (a, b))
    if best is None or best[0] > 0.5 * sim_error:
        return []
    e, (a, b) = best
    return [{"tag": r["tag"], "error_if_float": e, "why": f"in float together with {o['tag']} it cuts the simulated output error from "
                                     f"{sim_error:.3g} to {e:.3g} (neither alone does)" + _diverges(r)}
            for r, o in ((a, b), (b, a))]


def analyse(desc: Any, x: np.ndarray, ft: Trace, qz: Quantized, output: dict[str, Any]) -> dict[str, Any]:
    """The report dictionary (see report.py for its rendering)."""
    rows = tensor_rows(ft, qz)
    candidates = [t for t in tag_order(ft) if t in qz.params and t not in ("output",)]
    want = ft["output"] if desc.output_is_sequence else ft["output"][0]  # as simulate() returns it
    err = output_error(desc, x, qz.param, want)
    sim_err = err(frozenset())
    what_if = {tag: err(frozenset({tag})) for tag in candidates}
    by_tag = {r["tag"]: r for r in rows}
    for tag, e in what_if.items():
        if tag in by_tag:
            by_tag[tag]["what_if_float"] = e
        else:  # quantized in the simulation but not a tensor of the file (the fused op's x/h parts)
            rows.append({"tag": tag, "dtype": qz.params[tag].dtype, "scale": qz.params[tag].scale,
                         "zero_point": qz.params[tag].zero_point, "calibrated": list(qz.params[tag].range),
                         "seen": [round(float(ft[tag].min()), 6), round(float(ft[tag].max()), 6)],
                         "steps": int(len(ft[tag])), "max_error": None, "max_error_lsb": None, "rel_rmse": None,
                         "rel_rmse_per_step": [], "saturation": 0.0, "diverges_at": None, "what_if_float": e,
                         "internal": True})
    order = {t: i for i, t in enumerate(tag_order(ft))}
    rows.sort(key=lambda r: order.get(r["tag"], len(order)))
    lsb = output.get("lsb") or 1e-12
    return {"output": output, "simulation": {"output_max_error": sim_err,
                                             "note": "numpy fake-quant simulation of this artifact's quantization; "
                                                     "what_if_float: the same with one tensor in float"},
            "tensors": rows, "culprits": culprits(rows, sim_err, lsb, err), "notes": list(qz.notes)}
