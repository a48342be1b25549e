"""A numpy simulation of an artifact's quantization, and the what-if-float ablation that names culprits.

Every tagged tensor of the lowered math is rounded to its quantization in the artifact (QParam),
step by step. It is not bit-exact (the integer kernels round inside their arithmetic too), so
the report shows how close its output error comes to the artifact's; what it is for is the
ablation: the same simulation with one tensor kept in float says how much of the output error
that tensor's quantization causes, including what it does to every later step.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..ir import ModelDesc
from ..lower import cells
from ..lower.ranges import NumpyBackend
from .traces import QParam

ParamOf = Callable[[str, int], "QParam | None"]


class _Sim(NumpyBackend):
    def __init__(self, param: ParamOf, keep_float: frozenset[str]) -> None:
        super().__init__()
        self._param, self._keep = param, keep_float
        self._steps: dict[str, int] = {}

    def _rec(self, tag: str, v: np.ndarray) -> np.ndarray:
        k = self._steps.get(tag, 0)
        self._steps[tag] = k + 1
        p = None if tag in self._keep else self._param(tag, k)
        return v if p is None else p.fake(v)

    def state(self, a: Any, tag: str) -> Any:
        return a


def simulate(desc: ModelDesc, x: np.ndarray, param: ParamOf, keep_float: frozenset[str] = frozenset()) -> np.ndarray:
    """The model output (N, out) or (T, N, out) with every tag but ``keep_float`` quantized."""
    be = _Sim(param, keep_float)
    p_in = None if "input" in keep_float else param("input", 0)
    xs = [x[:, t, :].astype(np.float64) for t in range(x.shape[1])]
    xs = [v if p_in is None else p_in.fake(v) for v in xs]
    out = cells.model_sequence(be, desc, xs, lambda tag, n: np.zeros((x.shape[0], n)))
    return np.stack(out) if isinstance(out, list) else np.asarray(out)


def output_error(desc: ModelDesc, x: np.ndarray, param: ParamOf, want: np.ndarray) -> Callable[[frozenset[str]], float]:
    """keep_float -> the simulated output's max error against ``want`` (the float output)."""
    def err(keep: frozenset[str]) -> float:
        got = simulate(desc, x, param, keep)
        return float(np.abs(got.reshape(want.shape) - want).max())

    return err
