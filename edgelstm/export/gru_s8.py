"""Parameters of the fused int8 GRU step kernel ``gru_step_s8`` (firmware_export/runtime/include/el_gru_s8.h).

One GRU layer of edgelstm's lowered step graph (lower/cells.py: 6 FULLY_CONNECTED, 4 ADD, 1 SUB,
2 MUL, 2 LOGISTIC, 1 TANH; export/fusion.py finds them) becomes one kernel call. Everything
TensorFlow Lite Micro's Prepare functions compute for those ops is computed here, with the same
formulas as the op-by-op handlers (ops/fc.py, ops/elementwise.py, ops/activations.py), and then
rearranged so the kernel does less per unit while computing the same integers:

* every requantization y = sat8(MultiplyByQuantizedMultiplier(acc, m, s) + zp) becomes one
  :class:`Rq` (``el_gru_rq_t``): y = sat8((k + sign(v) + ((v * m + 2^31) >> 32)) >> rsh) with
  v = 2 * acc, rsh = -s, k = 2^(rsh - 1) + zp * 2^rsh, sign(v) = -1 for v < 0 else 0 (one SMMLAR,
  one ASR, one SSAT on Cortex-M4). ``(a * m + 2^30) >> 31`` is TFLite's doubling high multiply for
  every a, m but a = m = INT32_MIN (both round ties towards +inf), and folding the rounding term
  of its rounding right shift, the tie correction of negative values and the zero point into k is
  exact when s < 0 (a layer with a rescale factor >= 0.5, s >= 0, stays op by op);
  :func:`requantize_fast` is checked against :func:`requantize_tflm` (TFLite's two roundings) in
  the tests, and :func:`check_rq` refuses any parameter set for which an intermediate could
  overflow. Accumulators, tables and gate factors are stored doubled (v = 2 * acc for free);
* an ADD/SUB input rescale rq((a - zp) << 20, m_i, s_i) of an int8 a has 256 possible values:
  a 256-entry int32 table (1 KB of flash; 10 per layer); LOGISTIC/TANH tables (TFLite Micro's
  own kernel run on all 256 inputs) are composed into the tables that read their outputs;
* input zero points are folded into the FC biases, and the weights are re-laid out for the SIMD
  loops: the units in blocks of 4 (padded with zero rows), per block one group of 4 rows per FC
  (the FC's rows of the block's 4 units, interleaved per 4 columns, :func:`grouped`), all groups in
  one array in the order the kernel reads them (:func:`group_order`), each group's bias and
  requantization beside it (``el_gru_row_t``, 4 records per group: one VLD4 gives each field of the
  4 rows in one vector). One pass over x (or h) feeds 4 rows, and a group's 4 sums are one gate of
  4 units: the MVE path finishes the FCs and the elementwise ops of 4 units in vector lanes.

:meth:`GruS8.reference` runs the kernel's arithmetic in numpy.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .cformat import c_array, c_struct
from .quantparams import add_params, quantize_multiplier

INT32_MAX = 2**31 - 1
_MARGIN = 2**31 - 4  # bound every intermediate below this


class NotFusable(ValueError):
    """The group cannot run in the fused kernel (the op-by-op path is used instead)."""


# ---- TFLite's integer arithmetic (numpy, exact) -------------------------------------------
def _trunc_div(a: np.ndarray, d: int) -> np.ndarray:
    q = np.abs(a) // d
    return np.where(a < 0, -q, q)


def srdhm(a: np.ndarray, m: int) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul(a, m) (a int64 array of int32 values, m an int32)."""
    a = np.asarray(a, np.int64)
    ab = a * np.int64(m)
    nudge = np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    out = _trunc_div(ab + nudge, 1 << 31)
    return np.where((a == -2**31) & (m == -2**31), INT32_MAX, out)


def rdbp(x: np.ndarray, e: int) -> np.ndarray:
    """RoundingDivideByPOT: x / 2^e rounded half away from zero."""
    x = np.asarray(x, np.int64)
    mask = (1 << e) - 1
    rem = x & mask
    thr = (mask >> 1) + (x < 0)
    return (x >> e) + (rem > thr)


def _wrap32(v: np.ndarray) -> np.ndarray:
    return ((np.asarray(v, np.int64) + 2**31) % 2**32) - 2**31


def requantize_tflm(x: np.ndarray, mult: int, shift: int) -> np.ndarray:
    """MultiplyByQuantizedMultiplier (el_requantize): the op-by-op kernels' rescale."""
    x = np.asarray(x, np.int64)
    if shift > 0:
        return srdhm(_wrap32(x << shift), mult)
    return rdbp(srdhm(x, mult), -shift)


# ---- the kernel's requantization --------------------------------------------------------
@dataclass(frozen=True)
class Rq:
    """el_gru_rq_t: TFLite's (multiplier, shift < 0) and output zero point, for v = 2 * acc."""

    mult: int
    k: int
    rsh: int

    @staticmethod
    def of(mult: int, shift: int, zero_point: int, what: str) -> Rq:
        if shift >= 0:
            # the kernel folds TFLite's rounding shift into k and an arithmetic shift, which needs rsh >= 1
            raise NotFusable(f"{what}: rescale factor >= 0.5 (shift {shift}) is not handled by the fused kernel")
        rsh = -shift
        return Rq(mult, (1 << (rsh - 1)) + zero_point * (1 << rsh), rsh)

    def c(self) -> str:
        return f"{{ .mult = {self.mult}, .k = {self.k}, .rsh = {self.rsh}, .qsh = {24 - self.rsh} }}"


def requantize_fast(v: np.ndarray, q: Rq) -> np.ndarray:
    """What el_gru_requantize computes for v (= 2 * acc): int8 values."""
    v = np.asarray(v, np.int64)
    t = q.k + np.where(v < 0, -1, 0)
    hi = t + ((v * q.mult + (1 << 31)) >> 32)
    return np.clip(hi >> q.rsh, -128, 127)


def check_rq(q: Rq, v_lo: int, v_hi: int, what: str) -> None:
    """Refuse parameters for which v or the kernel's high word could leave int32."""
    v_max = max(abs(int(v_lo)), abs(int(v_hi)))
    if v_max >= _MARGIN:
        raise NotFusable(f"{what}: doubled accumulator up to {v_max} does not fit int32")
    high = abs(q.k) + 1 + ((v_max * q.mult + (1 << 31)) >> 32) + 1
    if high >= _MARGIN:
        raise NotFusable(f"{what}: requantization intermediate up to {high} does not fit int32")


# ---- tensors and ops, as the fusion pass hands them over --------------------------------
@dataclass
class Q:
    """An int8 activation's quantization."""

    scale: float
    zero_point: int


@dataclass
class Fc:
    w: np.ndarray  # int8 (units, cols)
    w_scale: np.ndarray  # float32 (units,) or (1,)
    bias: np.ndarray | None  # int32 (units,)
    x: Q
    y: Q


@dataclass
class GruOps:
    """The quantization of one lowered GRU layer (tags of lower/cells.py), read from the graph."""

    reset_after: bool
    input_size: int
    units: int
    fc: dict[str, Fc]  # update.x reset.x candidate.x update.h reset.h candidate.h
    q: dict[str, Q]  # h, update.pre, update.act, reset.pre, reset.act, candidate.rh, candidate.pre,
    #                  candidate.act, hn, zhn, h_out
    sigmoid_z: np.ndarray  # int8 LOGISTIC outputs for inputs -128..127 (update gate)
    sigmoid_r: np.ndarray  # (reset gate)
    tanh_n: np.ndarray  # TANH outputs for inputs -128..127


_VALUES = np.arange(-128, 128, dtype=np.int64)


# ---- the kernel's parameters ------------------------------------------------------------
@dataclass
class Row:
    bias2: int  # 2 * bias, input zero point folded in
    rq: Rq


@dataclass
class GruS8:
    input_size: int
    units: int
    reset_after: bool
    x_cols: int
    h_cols: int
    w: np.ndarray  # int8: the groups of 4 rows in group_order, each grouped (see grouped()), then _TAIL zeros
    rows: list[Row]  # 6 per unit: zx rx nx zh rh nh
    tables: dict[str, np.ndarray]  # 256 entries each, index v + 128
    rq: dict[str, Rq]  # z r n rh hn zhn h
    rh_offset: int
    hn_offset: int
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def u4(self) -> int:
        """units rounded up to a multiple of 4: the kernel works on blocks of 4 units"""
        return _ceil4(self.units)

    @property
    def work_bytes(self) -> int:
        """EL_GRU_S8_WORK_BYTES"""
        x16, h16 = -(-self.input_size // 16) * 16, -(-self.units // 16) * 16
        return 2 * x16 + 3 * h16 + 2 * self.u4

    @property
    def flash_bytes(self) -> int:
        """Constant data of the layer (weights, rows, tables), as the C arrays hold it."""
        return (self.w.size + 16 * len(self.rows)
                + sum(t.size * t.itemsize for t in self.tables.values()) - _TAIL)

    # ---- C ------------------------------------------------------------------------------
    def c_definitions(self, name: str) -> str:
        out = [(f"/* GRU layer {name}: int8, {self.input_size} inputs, {self.units} units, reset_after="
               f"{int(self.reset_after)}; one gru_step_s8 call computes the integers of the lowered step graph's\n"
               f" * 16 ops (6 FULLY_CONNECTED, 4 ADD, SUB, 2 MUL, 2 LOGISTIC, TANH) of this layer. Constant data: "
               f"{self.flash_bytes} B, of which {sum(t.nbytes for t in self.tables.values())} B are the ADD/SUB "
               f"rescale and activation tables\n * (256 entries each: an int8 input has 256 values) that replace "
               f"three requantizations per ADD/SUB by one. */\n")]
        order = ("zx zh rx rh nx nh" if self.reset_after else "zx zh rx rh nx, then per block nh over MUL(r, h)")
        out.append(c_array(f"{name}_w", self.w, f"per block of 4 units ({self.u4 - self.units} zero rows of padding) "
                           f"the groups {order}: 4 rows each (x: {self.input_size} columns, padded to {self.x_cols}; h: "
                           f"{self.units}, padded to {self.h_cols}), per 4 columns one word per row; {_TAIL} bytes of "
                           f"tail", align=16))
        body = ["    " + ", ".join(f"{{ .bias2 = {r.bias2}, .mult = {r.rq.mult}, .k = {r.rq.k}, .rsh = {r.rq.rsh} }}"
                                  for r in self.rows[i:i + 4]) + "," for i in range(0, len(self.rows), 4)]
        out.append(f"/* FC rows in the order of the weights (per block of 4 units: {order}):\n"
                   f" * 2 x bias with the input zero point folded in, requantization to the FC's output grid */\n"
                   f"static const el_gru_row_t {name}_rows[{len(self.rows)}] EL_MODEL_ALIGN(16) EL_MODEL_SECTION = {{\n"
                   + "\n".join(body) + "\n};\n")
        for key, t in self.tables.items():
            out.append(c_array(f"{name}_t_{key}", t, f"{key}: {self.notes.get(key, '')}; index = int8 value + 128"))
        tp = {k: f"{name}_t_{k} + 128" for k in self.tables}
        rq = self.rq
        def addsub(a: str, b: str, q: str) -> str:
            return f"{{ .t_a = {tp[a]}, .t_b = {tp[b]}, .rq = {rq[q].c()} }}"

        def mul(gate: str, offset: int, q: str) -> str:
            return f"{{ .t_gate = {tp[gate]}, .offset = {offset}, .rq = {rq[q].c()} }}"

        out.append(c_struct("el_gru_s8_t", name, [
            ("input_size", self.input_size), ("units", self.units), ("reset_after", int(self.reset_after)),
            ("x_cols", self.x_cols), ("h_cols", self.h_cols), ("w", f"{name}_w"), ("rows", f"{name}_rows"),
            ("add_z", (addsub("zx", "zh", "z"), "update.pre = ADD(update.x, update.h)")),
            ("add_r", (addsub("rx", "rh", "r"), "reset.pre = ADD(reset.x, reset.h)")),
            ("mul_r", (mul("r", self.rh_offset, "rh"),
                       f"candidate.rh = MUL(r, {'candidate.h' if self.reset_after else 'h'})")),
            ("add_n", (addsub("nx", "nh", "n"), "candidate.pre")),
            ("sub_hn", (addsub("h", "n_sub", "hn"), "hn = SUB(h, n)")),
            ("mul_z", (mul("z", self.hn_offset, "zhn"), "zhn = MUL(z, hn)")),
            ("add_h", (addsub("n_add", "zhn", "h"), "h = ADD(n, zhn)"))]))
        return "".join(out)

    # ---- integer reference (numpy), the kernel's arithmetic -----------------------------
    def reference(self, x: np.ndarray, h: np.ndarray) -> np.ndarray:
        """h_out (units,) for one int8 x (input_size,) and h (units,)."""
        x = np.asarray(x, np.int64).reshape(-1)
        h = np.asarray(h, np.int64).reshape(-1)
        t = {k: (lambda v, a=v: a[np.asarray(v, np.int64) + 128]) for k, v in self.tables.items()}
        units, xc, hc, u4 = self.units, self.x_cols, self.h_cols, self.u4
        mats: dict[str, np.ndarray] = {}
        rows_of: dict[str, list[Row]] = {}
        pos = 0
        for i, (key, blk) in enumerate(group_order(self.reset_after, u4)):
            c4 = xc if key.endswith(".x") else hc
            w = ungrouped(self.w[pos:pos + 4 * c4], 4, c4)
            pos += 4 * c4
            mats.setdefault(key, np.zeros((u4, c4), np.int8))[4 * blk:4 * blk + 4] = w
            rows_of.setdefault(key, [None] * u4)[4 * blk:4 * blk + 4] = self.rows[4 * i:4 * i + 4]

        def fc(keys: tuple[str, ...], v: np.ndarray) -> np.ndarray:
            """the FCs of keys over v: (units, len(keys))"""
            out = np.zeros((units, len(keys)), np.int64)
            for g, key in enumerate(keys):
                acc = mats[key][:units, :v.size].astype(np.int64) @ v
                acc += np.array([r.bias2 // 2 for r in rows_of[key][:units]], np.int64)
                out[:, g] = [requantize_fast(2 * a, r.rq) for a, r in zip(acc, rows_of[key])]
            return out

        fx = fc(("update.x", "reset.x", "candidate.x"), x)
        fh = fc(("update.h", "reset.h", "candidate.h") if self.reset_after else ("update.h", "reset.h"), h)
        zx, rx, nx, zh, rh = fx[:, 0], fx[:, 1], fx[:, 2], fh[:, 0], fh[:, 1]
        zpre = requantize_fast(t["zx"](zx) + t["zh"](zh), self.rq["z"])
        rpre = requantize_fast(t["rx"](rx) + t["rh"](rh), self.rq["r"])
        if self.reset_after:
            rnh = requantize_fast(t["r"](rpre) * (fh[:, 2] + self.rh_offset), self.rq["rh"])
            npre = requantize_fast(t["nx"](nx) + t["nh"](rnh), self.rq["n"])
        else:
            q = requantize_fast(t["r"](rpre) * (h + self.rh_offset), self.rq["rh"])
            nh = fc(("candidate.h",), q)[:, 0]
            npre = requantize_fast(t["nx"](nx) + t["nh"](nh), self.rq["n"])
        hn = requantize_fast(t["h"](h) - t["n_sub"](npre), self.rq["hn"])
        zhn = requantize_fast(t["z"](zpre) * (hn + self.hn_offset), self.rq["zhn"])
        return requantize_fast(t["n_add"](npre) + t["zhn"](zhn), self.rq["h"]).astype(np.int8)


def _ceil4(n: int) -> int:
    return (n + 3) // 4 * 4


_TAIL = 48  # zero bytes after the weights: the MVE loop reads whole 16-column passes


def group_order(reset_after: bool, u4: int) -> list[tuple[str, int]]:
    """The kernel's groups of 4 rows (FC, block of 4 units), in the order of the weights and row records:
    per block zx zh rx rh nx nh (reset_after), or per block zx zh rx rh nx, then per block nh (over q)"""
    first = ("update.x", "update.h", "reset.x", "reset.h", "candidate.x") + (("candidate.h",) if reset_after else ())
    out = [(k, b) for b in range(u4 // 4) for k in first]
    return out if reset_after else out + [("candidate.h", b) for b in range(u4 // 4)]


def grouped(rows: np.ndarray) -> np.ndarray:
    """The kernel's weight layout: rows in groups of 4 (the last group 1 to 3), each group interleaved
    per 4 columns (one 4-byte word per row; columns padded with zeros to a multiple of 4), so one pass
    over x (or h) feeds 4 rows."""
    n, cols = rows.shape
    c4 = _ceil4(cols)
    padded = np.pad(np.asarray(rows, np.int8), ((0, 0), (0, c4 - cols)))
    parts = [padded[r:r + 4].reshape(-1, c4 // 4, 4).transpose(1, 0, 2).reshape(-1) for r in range(0, n, 4)]
    return np.concatenate(parts).astype(np.int8) if parts else np.zeros(0, np.int8)


def ungrouped(flat: np.ndarray, n: int, c4: int) -> np.ndarray:
    """Inverse of ``grouped``: (n, c4)."""
    out = np.zeros((n, c4), np.int8)
    pos = 0
    for r in range(0, n, 4):
        g = min(4, n - r)
        out[r:r + g] = np.asarray(flat[pos:pos + g * c4], np.int8).reshape(c4 // 4, g, 4).transpose(1, 0, 2).reshape(g, c4)
        pos += g * c4
    return out


def _fc_rows(fc: Fc, what: str) -> list[Row]:
    """Per output row: bias with the input zero point folded in, and the requantization (as ops/fc.py)."""
    w = fc.w.astype(np.int64)
    units = w.shape[0]
    scales = fc.w_scale if fc.w_scale.size > 1 else np.repeat(fc.w_scale[:1], units)
    bias = (fc.bias.astype(np.int64) if fc.bias is not None else np.zeros(units, np.int64))
    bias = bias - fc.x.zero_point * w.sum(axis=1)
    lo = bias + np.minimum(-128 * w, 127 * w).sum(axis=1)
    hi = bias + np.maximum(-128 * w, 127 * w).sum(axis=1)
    partial = np.abs(bias) + 128 * np.abs(w).sum(axis=1)  # any partial sum of the dot product
    out = []
    for o in range(units):
        mult, shift = quantize_multiplier(float(fc.x.scale) * float(scales[o]) / float(fc.y.scale))
        rq = Rq.of(mult, shift, fc.y.zero_point, f"{what} row {o}")
        if partial[o] >= 2**29:  # every partial sum, doubled, stays within int32
            raise NotFusable(f"{what} row {o}: accumulator bound {partial[o]} too large")
        check_rq(rq, 2 * int(lo[o]), 2 * int(hi[o]), f"{what} row {o}")
        out.append(Row(2 * int(bias[o]), rq))
    return out


def _addsub(a: Q, b: Q, y: Q, sub: bool, what: str) -> tuple[np.ndarray, np.ndarray, Rq]:
    """ADD/SUB (as ops/elementwise.py): the two input rescale tables (doubled) and the output
    requantization."""
    p = add_params(a.scale, b.scale, y.scale, "int8")
    ls = p["left_shift"]
    ta = requantize_tflm((_VALUES - a.zero_point) << ls, p["input1_multiplier"], p["input1_shift"])
    tb = requantize_tflm((_VALUES - b.zero_point) << ls, p["input2_multiplier"], p["input2_shift"])
    rq = Rq.of(p["output_multiplier"], p["output_shift"], y.zero_point, what)
    ta, tb = 2 * ta, 2 * tb
    lo = ta.min() - tb.max() if sub else ta.min() + tb.min()
    hi = ta.max() - tb.min() if sub else ta.max() + tb.max()
    check_rq(rq, int(lo), int(hi), what)
    return ta, tb, rq


def _mul(gate: Q, b: Q, y: Q, gate_values: np.ndarray, what: str) -> tuple[np.ndarray, Rq]:
    """MUL(gate, b) (as ops/elementwise.py): 2 * (gate value - zp) as an int16 table over the gate's
    int8 inputs (the activation folded in), and the output requantization."""
    mult, shift = quantize_multiplier(gate.scale * b.scale / y.scale)
    rq = Rq.of(mult, shift, y.zero_point, what)
    g = 2 * (gate_values.astype(np.int64) - gate.zero_point)
    if np.abs(g).max() >= 2**15:
        raise NotFusable(f"{what}: gate table does not fit int16")
    bv = _VALUES - b.zero_point
    prods = np.array([g.min() * bv.min(), g.min() * bv.max(), g.max() * bv.min(), g.max() * bv.max()])
    check_rq(rq, int(prods.min()), int(prods.max()), what)
    return g, rq


def prepare(ops: GruOps) -> GruS8:
    """The kernel's parameters for one layer; NotFusable when some bound cannot be guaranteed."""
    fc, q = ops.fc, ops.q
    units, in_size = ops.units, ops.input_size
    gx, gh = ("update.x", "reset.x", "candidate.x"), ("update.h", "reset.h", "candidate.h")
    per_gate = {k: _fc_rows(fc[k], k) for k in gx + gh}
    # the kernel's row order: x rows z r n per unit; h rows z r n per unit (reset_after), or z r per unit
    # then n per unit (the candidate's recurrent FC reads MUL(r, h) of every unit)
    u4 = _ceil4(units)
    rows: list[Row] = []
    ws = []
    for key, blk in group_order(ops.reset_after, u4):
        w = fc[key].w
        ws.append(grouped(np.concatenate([w[4 * blk:4 * blk + 4],
                                          np.zeros((max(0, 4 * blk + 4 - units), w.shape[1]), np.int8)])))
        # padding rows: bias 0, the FC's first requantization (their lanes are never stored)
        rows += [per_gate[key][j] if j < units else Row(0, per_gate[key][0].rq) for j in range(4 * blk, 4 * blk + 4)]
    w_all = np.concatenate(ws + [np.zeros(_TAIL, np.int8)])

    t_zx, t_zh, rq_z = _addsub(fc["update.x"].y, fc["update.h"].y, q["update.pre"], False, "update.pre")
    t_rx, t_rh, rq_r = _addsub(fc["reset.x"].y, fc["reset.h"].y, q["reset.pre"], False, "reset.pre")
    second = q["candidate.rh"] if ops.reset_after else fc["candidate.h"].y
    t_nx, t_nh, rq_n = _addsub(fc["candidate.x"].y, second, q["candidate.pre"], False, "candidate.pre")
    t_h, t_n_sub_by_n, rq_hn = _addsub(q["h"], q["candidate.act"], q["hn"], True, "hn")
    t_n_add_by_n, t_zhn, rq_h = _addsub(q["candidate.act"], q["zhn"], q["h_out"], False, "h")
    t_z, rq_zhn = _mul(q["update.act"], q["hn"], q["zhn"], ops.sigmoid_z, "zhn")
    rh_in = fc["candidate.h"].y if ops.reset_after else q["h"]
    t_r, rq_rh = _mul(q["reset.act"], rh_in, q["candidate.rh"], ops.sigmoid_r, "candidate.rh")
    tanh_idx = ops.tanh_n.astype(np.int64) + 128
    tables = {"zx": t_zx, "zh": t_zh, "rx": t_rx, "rh": t_rh, "nx": t_nx, "nh": t_nh, "h": t_h,
              "n_sub": t_n_sub_by_n[tanh_idx], "n_add": t_n_add_by_n[tanh_idx], "zhn": t_zhn}
    tables = {k: v.astype(np.int32) for k, v in tables.items()}
    tables["z"] = t_z.astype(np.int16)
    tables["r"] = t_r.astype(np.int16)
    notes = {"zx": "update.pre = ADD(update.x, update.h), rescale of update.x", "zh": "rescale of update.h",
             "rx": "reset.pre = ADD(reset.x, reset.h), rescale of reset.x", "rh": "rescale of reset.h",
             "nx": "candidate.pre = ADD(candidate.x, ...), rescale of candidate.x",
             "nh": "rescale of " + ("candidate.rh = MUL(r, candidate.h)" if ops.reset_after else "candidate.h"),
             "h": "hn = SUB(h, n), rescale of h", "n_sub": "hn = SUB(h, n), rescale of n = TANH(candidate.pre)",
             "n_add": "h = ADD(n, zhn), rescale of n = TANH(candidate.pre)", "zhn": "h = ADD(n, zhn), rescale of zhn",
             "z": "2 x (LOGISTIC(update.pre) - zero point), for MUL(z, hn)",
             "r": "2 x (LOGISTIC(reset.pre) - zero point), for MUL(r, " + ("candidate.h)" if ops.reset_after
                                                                               else "h)")}
    return GruS8(in_size, units, ops.reset_after, _ceil4(in_size), _ceil4(units), w_all, rows, tables,
                 {"z": rq_z, "r": rq_r, "n": rq_n, "rh": rq_rh, "hn": rq_hn, "zhn": rq_zhn, "h": rq_h},
                 -rh_in.zero_point, -q["hn"].zero_point, notes)


def reference_ops(ops: GruOps, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The lowered step graph op by op, as the op-by-op C kernels compute it (TFLite's formulas):
    the independent reference the fused arithmetic is tested against."""
    x = np.asarray(x, np.int64).reshape(-1)
    h = np.asarray(h, np.int64).reshape(-1)
    fc, q = ops.fc, ops.q

    def fcv(k: str, v: np.ndarray) -> np.ndarray:
        f = fc[k]
        w = f.w.astype(np.int64)
        acc = w @ (v - f.x.zero_point) + (f.bias.astype(np.int64) if f.bias is not None else 0)
        scales = f.w_scale if f.w_scale.size > 1 else np.repeat(f.w_scale[:1], w.shape[0])
        out = [requantize_tflm(np.array([a]), *quantize_multiplier(float(f.x.scale) * float(s) / float(f.y.scale)))[0]
               for a, s in zip(acc, scales)]
        return np.clip(np.array(out) + f.y.zero_point, -128, 127)

    def add(a: np.ndarray, qa: Q, b: np.ndarray, qb: Q, y: Q, sign: int = 1) -> np.ndarray:
        p = add_params(qa.scale, qb.scale, y.scale, "int8")
        sa = requantize_tflm((a - qa.zero_point) << 20, p["input1_multiplier"], p["input1_shift"])
        sb = requantize_tflm((b - qb.zero_point) << 20, p["input2_multiplier"], p["input2_shift"])
        return np.clip(requantize_tflm(sa + sign * sb, p["output_multiplier"], p["output_shift"]) + y.zero_point,
                       -128, 127)

    def mul(a: np.ndarray, qa: Q, b: np.ndarray, qb: Q, y: Q) -> np.ndarray:
        m, s = quantize_multiplier(qa.scale * qb.scale / y.scale)
        return np.clip(requantize_tflm((a - qa.zero_point) * (b - qb.zero_point), m, s) + y.zero_point, -128, 127)

    def lut(table: np.ndarray, v: np.ndarray) -> np.ndarray:
        return table[np.asarray(v, np.int64) + 128].astype(np.int64)

    zx, rx, nx = fcv("update.x", x), fcv("reset.x", x), fcv("candidate.x", x)
    z = lut(ops.sigmoid_z, add(zx, fc["update.x"].y, fcv("update.h", h), fc["update.h"].y, q["update.pre"]))
    r = lut(ops.sigmoid_r, add(rx, fc["reset.x"].y, fcv("reset.h", h), fc["reset.h"].y, q["reset.pre"]))
    if ops.reset_after:
        nh = fcv("candidate.h", h)
        rh = mul(r, q["reset.act"], nh, fc["candidate.h"].y, q["candidate.rh"])
        n = lut(ops.tanh_n, add(nx, fc["candidate.x"].y, rh, q["candidate.rh"], q["candidate.pre"]))
    else:
        rh = mul(r, q["reset.act"], h, q["h"], q["candidate.rh"])
        nh = fcv("candidate.h", rh)
        n = lut(ops.tanh_n, add(nx, fc["candidate.x"].y, nh, fc["candidate.h"].y, q["candidate.pre"]))
    hn = add(h, q["h"], n, q["candidate.act"], q["hn"], sign=-1)
    zhn = mul(z, q["update.act"], hn, q["hn"], q["zhn"])
    return add(n, q["candidate.act"], zhn, q["zhn"], q["h_out"]).astype(np.int8)

