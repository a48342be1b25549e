"""Error of an artifact's outputs against the Keras float model."""
from __future__ import annotations

import numpy as np

#: Class scores are judged by the error this share of the series stay within (convert.verdict).
SERIES_QUANTILE = 0.95


def compare(got: np.ndarray, want: np.ndarray, labels: np.ndarray | None = None,
            output_scale: float | None = None, class_scores: bool = False) -> dict:
    """Error statistics of got against want (Keras), one row per series. class_scores: the outputs are a
    softmax over classes (ModelDesc.output_is_class_scores); adds what convert.verdict judges them by."""
    got = got.reshape(want.shape).astype(np.float64)
    want = want.astype(np.float64)
    diff = got - want
    a, b = got.reshape(len(got), -1), want.reshape(len(want), -1)
    denom = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cos = np.where(denom > 0, (a * b).sum(axis=1) / np.maximum(denom, 1e-30), 1.0)
    m = {"max_abs_error": float(np.abs(diff).max()),
         "rmse": float(np.sqrt((diff ** 2).mean())),
         "cosine_similarity": float(cos.min()),  # the worst sample
         "cosine_overall": _cosine(a.reshape(-1), b.reshape(-1)),  # all outputs as one vector
         "samples": int(len(got))}
    if output_scale:
        m["max_abs_error_lsb"] = float(np.abs(diff).max() / output_scale)
    if want.ndim == 2 and want.shape[1] > 1:  # class scores: does the artifact pick Keras' class?
        same = got.argmax(axis=1) == want.argmax(axis=1)
        m["agreement"] = float(same.mean())
        m["disagreements"] = [int(i) for i in np.flatnonzero(~same)]  # validation sample indices
        if class_scores:
            m["class_scores"] = True
            m["series_error_p95"] = series_percentile(np.abs(diff).max(axis=1), SERIES_QUANTILE)
            top2 = np.sort(want, axis=1)[:, -2:]
            margin = top2[:, 1] - top2[:, 0]  # how sure Keras is of its class
            m["changed_margins"] = [float(v) for v in margin[~same]]  # of the disagreements, in order
    if labels is not None and want.ndim == 2 and want.shape[1] > 1:
        m["accuracy"] = float((got.argmax(axis=1) == labels).mean())
        m["keras_accuracy"] = float((want.argmax(axis=1) == labels).mean())
    return m


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float((a * b).sum() / denom) if denom > 0 else 1.0


def series_percentile(errors: np.ndarray, q: float) -> float:
    """The nearest-rank q-quantile of the series' errors: at least q of the series are within it. Below
    1 / (1 - q) series (20 for q = 0.95) it is the largest error."""
    ordered = np.sort(np.asarray(errors, dtype=np.float64))
    return float(ordered[max(int(np.ceil(q * len(ordered) - 1e-9)) - 1, 0)])
