"""The int16 paths of lowered int8 models in the C export: the LSTM cell (convert.cell16) and the int16
activations of relu GRUs and SimpleRNNs (convert.recurrent16).

Each kernel (requantize_s8_s16, requantize_s16_s8, requantize_s8_s8, mul_s16, add_s16, sub_s16, sigmoid_s16 as
LOGISTIC, tanh_s16 as TANH, fc_s16) runs alone,
through its export handler (parameters precomputed by quantparams as TFLite Micro's Prepare does),
against TFLite Micro on a one-op model over the whole input range, several scale ratios and
saturation: every output must be equal. Then whole mixed LSTM/GRU models go through
`edgelstm export`, whose host check compares hx_run and hx_step with TFLite Micro.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from edgelstm.export.files import runtime_sources
from edgelstm.export.graph import read_graph
from edgelstm.export.ops import emit
from edgelstm.export.toolchain import RUNTIME, WARNINGS


_NP = {"int8": np.int8, "int16": np.int16}
_CT = {"int8": "int8_t", "int16": "int16_t"}
_ACT_RELU = 1


# ---- one-op models -------------------------------------------------------------------------------
def _one_op_model(kind: str, inputs: list[tuple[str, float, int]], output: tuple[str, float, int], n: int,
                  activation: int = 0) -> bytes:
    """A .tflite holding one QUANTIZE / MUL / ADD / SUB / LOGISTIC on (1, n) tensors given as (dtype, scale,
    zero point)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    types = {"int8": schema.TensorType.INT8, "int16": schema.TensorType.INT16}

    def tensor(name: str, spec: tuple[str, float, int]) -> object:
        t = schema.TensorT()
        t.name, t.type, t.shape, t.buffer = name.encode(), types[spec[0]], np.array([1, n], np.int32), 0
        q = schema.QuantizationParametersT()
        q.scale, q.zeroPoint = [float(np.float32(spec[1]))], [int(spec[2])]
        t.quantization = q
        return t

    code = schema.OperatorCodeT()
    builtin = getattr(schema.BuiltinOperator, kind)
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
    op = schema.OperatorT()
    op.opcodeIndex = 0
    op.inputs = np.arange(len(inputs), dtype=np.int32)
    op.outputs = np.array([len(inputs)], np.int32)
    if kind == "QUANTIZE":
        op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.QuantizeOptions, schema.QuantizeOptionsT()
    elif kind == "MUL":
        op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.MulOptions, schema.MulOptionsT()
        op.builtinOptions.fusedActivationFunction = activation
    elif kind in ("LOGISTIC", "TANH"):
        pass  # no options
    elif kind == "SUB":
        op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.SubOptions, schema.SubOptionsT()
        op.builtinOptions.fusedActivationFunction = activation
        op.builtinOptions.potScaleInt16 = False
    else:
        op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.AddOptions, schema.AddOptionsT()
        op.builtinOptions.fusedActivationFunction = activation
        op.builtinOptions.potScaleInt16 = False  # the general int16 path, as convert.cell16 writes it
    sg = schema.SubGraphT()
    sg.tensors = [tensor(f"in{k}", s) for k, s in enumerate(inputs)] + [tensor("out", output)]
    sg.inputs = np.arange(len(inputs), dtype=np.int32)
    sg.outputs = np.array([len(inputs)], np.int32)
    sg.operators = [op]
    sg.name = b"main"
    model = schema.ModelT()
    model.version, model.description = 3, b"edgelstm int16 kernel test"
    model.operatorCodes, model.subgraphs, model.buffers = [code], [sg], [schema.BufferT()]
    return bytes(fbu.convert_object_to_bytearray(model))


def _tflm(model: bytes, feeds: list[np.ndarray]) -> np.ndarray:
    from tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(model, arena_size=64 * 1024 + 16 * sum(f.nbytes for f in feeds))
    for k, f in enumerate(feeds):
        it.set_input(f.reshape(1, -1) if f.ndim == 1 else f, k)
    it.invoke()
    return np.asarray(it.get_output(0)).reshape(-1)


# ---- the C side: the op's handler output in a small program --------------------------------------
@dataclass
class _Ctx:
    """The generator's context, reduced to what an elementwise handler asks for."""
    graph: object
    prefix: str = "t"
    _defined: set = field(default_factory=set)

    def ptr(self, tensor: int) -> str:
        return "y" if tensor in self.graph.outputs else f"x{self.graph.inputs.index(tensor)}"

    def op_name(self, op) -> str:
        return "t_op"

    def weight_name(self, tensor: int) -> str:
        return f"t_w{tensor}"

    def first_use(self, key) -> bool:
        new = key not in self._defined
        self._defined.add(key)
        return new


def _run_c(model: bytes, feeds: list[np.ndarray], tmp: Path) -> tuple[np.ndarray, str]:
    """Outputs of the generated C for the op of ``model`` (and the C parameter definitions)."""
    g = read_graph(model)
    ctx = _Ctx(g)
    e = emit(ctx, g.ops[0])
    out_t = g.t(g.outputs[0]).dtype
    arrays = "".join(f"static {_CT[f.dtype.name]} x{k}[{f.size}];\n" for k, f in enumerate(feeds))
    reads = "".join(f"    if (fread(x{k}, sizeof(x{k}), 1, stdin) != 1) return 1;\n" for k in range(len(feeds)))
    src = (f'#include <stdio.h>\n#include "edgelstm.h"\n\n{e.definitions}\n{arrays}static {_CT[out_t]} y[{g.t(g.outputs[0]).size}];\n\n'
           f"int main(void)\n{{\n{reads}    " + "\n    ".join(e.code) +
           "\n    return fwrite(y, sizeof(y), 1, stdout) == 1 ? 0 : 1;\n}\n")
    (tmp / "main.c").write_text(src)
    exe = tmp / "kernel"
    cmd = ["gcc", *WARNINGS, "-O2", f"-I{RUNTIME / 'include'}", str(tmp / "main.c"),
           *map(str, runtime_sources(c.kernel for c in e.calls)), "-o", str(exe)]
    subprocess.run(cmd, check=True, capture_output=True)
    r = subprocess.run([str(exe)], input=b"".join(f.tobytes() for f in feeds), capture_output=True, check=True)
    return np.frombuffer(r.stdout, _NP[out_t]), e.definitions


def _assert_same_as_tflm(kind: str, inputs: list[tuple[str, float, int]], output: tuple[str, float, int],
                         feeds: list[np.ndarray], tmp: Path, activation: int = 0) -> np.ndarray:
    model = _one_op_model(kind, inputs, output, feeds[0].size, activation)
    want = _tflm(model, feeds)
    got, defs = _run_c(model, feeds, tmp)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (f"{bad.size} of {got.size} differ, first at inputs "
                           f"{[int(f[bad[0]]) for f in feeds]}: C {got[bad[0]]}, TFLM {want[bad[0]]}\n{defs}")
    return want


def _all(dtype: str) -> np.ndarray:
    info = np.iinfo(_NP[dtype])
    return np.arange(info.min, info.max + 1).astype(_NP[dtype])


CELL = 2.0 ** -15  # a cell grid: |c| < 1
GATE16 = 2.0 ** -15


# ---- QUANTIZE --------------------------------------------------------------------------------------
@pytest.mark.parametrize("in_scale,in_zp,out_scale,out_zp", [
    (1 / 256, -128, GATE16, 0),        # forget gate Q0.8 -> Q0.15
    (0.00203002, 21, CELL, 0),         # i*g onto the cell grid
    (0.0061, -7, 2.0 ** -12, 0),       # a wider cell
    (0.05, 3, 2.0 ** -15, 0),          # ratio 1638: saturates at both ends
    (2.0 ** -10, 0, 2.0 ** -8, 0),     # ratio < 1 (rounding)
    (0.013, 100, 0.0007, 5),           # non-power-of-two ratio, output zero point
])
def test_requantize_s8_s16_matches_tflm(in_scale, in_zp, out_scale, out_zp, tmp_path):
    y = _assert_same_as_tflm("QUANTIZE", [("int8", in_scale, in_zp)], ("int16", out_scale, out_zp),
                             [_all("int8")], tmp_path)
    if in_scale == 0.05:
        assert y.min() == -32768 and y.max() == 32767


@pytest.mark.parametrize("in_scale,in_zp,out_scale,out_zp", [
    (CELL, 0, 0.00496866, 15),         # the cell to TANH's int8 input
    (2.0 ** -12, 0, 0.0203, -3),
    (CELL, 0, 1 / 256, -128),
    (2.0 ** -8, 0, 2.0 ** -9, 0),      # ratio 2: a left shift, saturates almost everywhere
    (2.0 ** -13, 0, 1.7e-5, 0),        # ratio ~7.2
    (1.3e-5, 7, 0.0813, 127),          # tiny ratio, output zero point at the top
])
def test_requantize_s16_s8_matches_tflm(in_scale, in_zp, out_scale, out_zp, tmp_path):
    y = _assert_same_as_tflm("QUANTIZE", [("int16", in_scale, in_zp)], ("int8", out_scale, out_zp),
                             [_all("int16")], tmp_path)
    if out_scale < 0.01:
        assert y.min() == -128 and y.max() == 127  # the int16 range overflows the int8 grid


@pytest.mark.parametrize("in_scale,in_zp,out_scale,out_zp", [
    (0.003428, 15, 0.004375, 5), (0.02, -128, 0.005, 0), (0.004, 0, 0.0041, -1), (0.01, 127, 0.01, -128)])
def test_requantize_s8_s8_matches_tflm(in_scale, in_zp, out_scale, out_zp, tmp_path):
    _assert_same_as_tflm("QUANTIZE", [("int8", in_scale, in_zp)], ("int8", out_scale, out_zp), [_all("int8")],
                         tmp_path)


# ---- MUL / ADD -------------------------------------------------------------------------------------
def _pairs(seed: int = 0) -> list[np.ndarray]:
    """Operand pairs: the whole int16 range against the extremes and against random and reversed values."""
    a = _all("int16")
    rng = np.random.default_rng(seed)
    bs = [np.full(a.size, v, np.int16) for v in (-32768, -32767, -1, 0, 1, 32767)]
    bs += [a[::-1].copy(), rng.integers(-32768, 32768, a.size).astype(np.int16), a.copy()]
    return [np.concatenate([a] * len(bs)), np.concatenate(bs)]


@pytest.fixture(scope="module")
def pairs() -> list[np.ndarray]:
    return _pairs()


@pytest.mark.parametrize("s1,s2,s_out,act", [
    (GATE16, CELL, CELL, 0),                   # f * c on the cell grid (multiplier 2^-15)
    (GATE16, 2.0 ** -12, 2.0 ** -12, 0),
    (2.0 ** -12, 2.0 ** -12, 2.0 ** -15, 0),   # saturates
    (1.1e-4, 3.3e-4, 2.1e-5, 0),               # non-power-of-two
    (2.0 ** -15, 2.0 ** -15, 2.0 ** -29, 0),   # multiplier 0.5 (shift 0)
    (2.0 ** -8, 2.0 ** -8, 2.0 ** -16, 0),     # multiplier 1 (shift 1): large products wrap in 32 bits as in TFLM
    (GATE16, CELL, CELL, _ACT_RELU),           # a fused activation clamps at 0
])
def test_mul_s16_matches_tflm(s1, s2, s_out, act, pairs, tmp_path):
    y = _assert_same_as_tflm("MUL", [("int16", s1, 0), ("int16", s2, 0)], ("int16", s_out, 0), pairs, tmp_path,
                             activation=act)
    if s_out == 2.0 ** -15 and s1 == 2.0 ** -12:
        assert y.min() == -32768 and y.max() == 32767


@pytest.mark.parametrize("s1,s2,s_out,act", [
    (CELL, CELL, CELL, 0),                      # f*c + i*g on the cell grid: saturates at both ends
    (2.0 ** -12, 2.0 ** -12, 2.0 ** -12, 0),
    (CELL, 2.0 ** -12, 2.0 ** -11, 0),          # different input scales
    (2.0 ** -12, CELL, 2.0 ** -14, 0),          # the larger scale second, output finer than it
    (1.7e-4, 2.3e-5, 3.1e-4, 0),                # non-power-of-two
    (CELL, CELL, CELL, _ACT_RELU),
])
def test_add_s16_matches_tflm(s1, s2, s_out, act, pairs, tmp_path):
    y = _assert_same_as_tflm("ADD", [("int16", s1, 0), ("int16", s2, 0)], ("int16", s_out, 0), pairs, tmp_path,
                             activation=act)
    if s1 == s2 == s_out and not act:
        assert y.min() == -32768 and y.max() == 32767


@pytest.mark.parametrize("s1,s2,s_out,act", [
    (CELL, CELL, CELL, 0),                      # saturates at both ends
    (2.0 ** -10, 2.0 ** -11, 2.0 ** -11, 0),    # a GRU's h - n: different power-of-two scales
    (2.0 ** -12, CELL, 2.0 ** -14, 0),          # the larger scale second, output finer than it
    (1.7e-4, 2.3e-5, 3.1e-4, 0),                # non-power-of-two: ratios formed in float32 would differ here
    (3.3e-4, 1.1e-4, 7.7e-5, 0),
    (CELL, 2.0 ** -13, CELL, _ACT_RELU),        # a fused activation clamps at 0
])
def test_sub_s16_matches_tflm(s1, s2, s_out, act, pairs, tmp_path):
    y = _assert_same_as_tflm("SUB", [("int16", s1, 0), ("int16", s2, 0)], ("int16", s_out, 0), pairs, tmp_path,
                             activation=act)
    if s1 == s2 == s_out and not act:
        assert y.min() == -32768 and y.max() == 32767
    if act:
        assert y.min() == 0


def test_int16_mul_and_add_refuse_zero_points(tmp_path):
    from edgelstm.errors import UnsupportedCombination

    for kind in ("ADD", "SUB"):
        model = _one_op_model(kind, [("int16", CELL, 3), ("int16", CELL, 0)], ("int16", CELL, 0), 4)
        with pytest.raises(UnsupportedCombination, match="zero point"):
            _run_c(model, [np.zeros(4, np.int16)] * 2, tmp_path)


# ---- int16 recurrent layers (convert.recurrent16): LOGISTIC, TANH and FULLY_CONNECTED 16x8 ------------
@pytest.mark.parametrize("in_scale", [
    2.0 ** -12,   # TFLite's power-of-two path: multiplier 3, no shift
    2.0 ** -11,   # the same path, multiplier 6
    2.0 ** -10,   # a power of two outside it: the general multiplier (a GRU gate pre-activation up to 32)
    2.0 ** -14,
    3.1e-4,       # not a power of two
])
@pytest.mark.parametrize("kind", ["LOGISTIC", "TANH"])
def test_logistic_and_tanh_s16_match_tflm(kind, in_scale, tmp_path):
    y = _assert_same_as_tflm(kind, [("int16", in_scale, 0)], ("int16", GATE16, 0), [_all("int16")], tmp_path)
    if kind == "LOGISTIC":
        assert y.min() >= 0 and y[32768] == 16384  # sigmoid(0) = 1/2 in Q0.15
    else:
        assert y[32768] == 0 and y.min() < -30000 and y.max() > 30000  # tanh(0) = 0; |x| reaches >= 2


def _fc_model(x_scale: float, w: np.ndarray, w_scales: np.ndarray, bias: np.ndarray | None, y_scale: float,
              rows: int, activation: int = 0) -> bytes:
    """A .tflite holding one int16x8 FULLY_CONNECTED: x (rows, in) int16, w (out, in) int8 per-channel,
    bias (out,) int64 at x_scale * w_scale, y (rows, out) int16; zero points 0."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    out_size, in_size = w.shape
    buffers = [schema.BufferT()]

    def tensor(name: str, ttype: int, shape: tuple, scales, data: np.ndarray | None = None) -> object:
        t = schema.TensorT()
        t.name, t.type, t.shape, t.buffer = name.encode(), ttype, np.array(shape, np.int32), 0
        if data is not None:
            b = schema.BufferT()
            b.data = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
            buffers.append(b)
            t.buffer = len(buffers) - 1
        q = schema.QuantizationParametersT()
        q.scale = [float(np.float32(v)) for v in np.atleast_1d(scales)]
        q.zeroPoint, q.quantizedDimension = [0] * len(q.scale), 0
        t.quantization = q
        return t

    tt = schema.TensorType
    tensors = [tensor("x", tt.INT16, (rows, in_size), x_scale),
               tensor("w", tt.INT8, w.shape, w_scales, w.astype(np.int8))]
    if bias is not None:
        tensors.append(tensor("b", tt.INT64, (out_size,), np.float32(x_scale) * w_scales.astype(np.float32),
                              bias.astype(np.int64)))
    tensors.append(tensor("y", tt.INT16, (rows, out_size), y_scale))
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.FULLY_CONNECTED
    code.version = 1
    op = schema.OperatorT()
    op.opcodeIndex = 0
    op.inputs = np.array([0, 1, 2 if bias is not None else -1], np.int32)
    op.outputs = np.array([len(tensors) - 1], np.int32)
    op.builtinOptionsType = schema.BuiltinOptions.FullyConnectedOptions
    op.builtinOptions = schema.FullyConnectedOptionsT()
    op.builtinOptions.fusedActivationFunction = activation
    sg = schema.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators, sg.name = tensors, np.array([0], np.int32), op.outputs, [op], b"main"
    model = schema.ModelT()
    model.version, model.description = 3, b"edgelstm int16 kernel test"
    model.operatorCodes, model.subgraphs, model.buffers = [code], [sg], buffers
    return bytes(fbu.convert_object_to_bytearray(model))


@pytest.mark.parametrize("x_scale,y_scale,per_channel,with_bias,act", [
    (2.0 ** -11, 2.0 ** -10, True, True, 0),    # a relu GRU's recurrent product
    (2.0 ** -12, 2.0 ** -15, True, True, 0),    # output much finer: saturates at both ends
    (2.0 ** -9, 2.0 ** -6, False, True, 0),     # per-tensor weights
    (3.1e-4, 7.3e-3, True, False, 0),           # no bias (the recurrent FCs), not powers of two
    (2.0 ** -11, 2.0 ** -10, True, True, _ACT_RELU),
])
def test_fc_s16_matches_tflm(x_scale, y_scale, per_channel, with_bias, act, tmp_path):
    rng = np.random.default_rng(3)
    in_size, out_size = 24, 8
    w = rng.integers(-127, 128, (out_size, in_size)).astype(np.int8)
    w[0] = 127
    w[1] = -127  # extreme rows: with extreme inputs the sums reach +-2^27
    w_scales = (rng.uniform(0.004, 0.02, out_size) if per_channel else np.full(1, 0.01)).astype(np.float32)
    bias = rng.integers(-2**30, 2**30, out_size).astype(np.int64) if with_bias else None
    xs = [rng.integers(-32768, 32768, in_size) for _ in range(60)]
    xs += [np.full(in_size, v) for v in (-32768, 32767, 0, 1, -1)]
    xs += [np.where(np.arange(in_size) % 2, 32767, -32768)]
    x = np.stack(xs).astype(np.int16)
    model = _fc_model(x_scale, w, w_scales, bias, y_scale, rows=len(x), activation=act)
    want = _tflm(model, [x]).reshape(len(x), out_size)
    got, defs = _run_c(model, [x], tmp_path)
    got = got.reshape(len(x), out_size)
    bad = np.argwhere(got != want)
    assert bad.size == 0, f"{len(bad)} of {got.size} differ, first at {bad[0]}: C {got[tuple(bad[0])]}, TFLM {want[tuple(bad[0])]}\n{defs[:2000]}"
    assert ("int64_t" in defs) == with_bias
    if y_scale == 2.0 ** -15:
        assert want.min() == -32768 and want.max() == 32767
    if act:
        assert want.min() == 0


# ---- whole mixed models through the CLI -------------------------------------------------------------
MIXED = ["gru:8,lstm:6,dense:3@12/4", "lstm:6,gru:5,dense:3@12/4"]


def test_mixed_lstm_gru_exports_are_bit_exact_in_run_and_step(tmp_path):
    """Both exports run at once (the converter is most of the time); each export's own host check
    compiles the C with -Werror and compares hx_run and hx_step with TFLite Micro."""
    exe = Path(sys.executable).with_name("edgelstm")
    procs = {}
    for k, spec in enumerate(MIXED):  # output to files: no pipe can fill up while the other export runs
        with open(tmp_path / f"out{k}", "w") as out, open(tmp_path / f"err{k}", "w") as err:
            procs[spec] = (k, subprocess.Popen([str(exe), "export", spec, "--synthetic-calib", "--quant", "int8",
                                                "--json", "-o", str(tmp_path / f"e{k}")], stdout=out, stderr=err))
    try:
        rcs = {spec: p.wait(timeout=600) for spec, (_, p) in procs.items()}
    finally:
        for _, p in procs.values():
            if p.poll() is None:
                p.kill()
    failed = [f"edgelstm export {spec} failed:\n{(tmp_path / f'err{procs[spec][0]}').read_text()[-2000:]}"
              for spec, rc in rcs.items() if rc != 0]
    assert not failed, "\n".join(failed)
    for spec, (k, _) in procs.items():
        info = json.loads((tmp_path / f"out{k}").read_text())
        checks = {r["mode"]: r for r in info["host_check"]}
        assert set(checks) == {"run", "step"}, spec
        assert all(r["mismatches"] == 0 and r["elements"] > 0 for r in checks.values()), (spec, checks)
        assert {"QUANTIZE", "MUL", "ADD"} <= set(info["ops"]), spec
        runtime = {Path(f).stem for f in info["files"]["runtime"]}
        assert {"requantize_s8_s16", "requantize_s16_s8", "mul_s16", "add_s16"} <= runtime, (spec, runtime)
        d = Path(info["out_dir"])
        assert "int16_t" in (d / "hx_model.h").read_text()  # the LSTM's cell state
        assert _sizeof_state(d, tmp_path) == info["memory"]["state_struct_bytes"], spec


def _sizeof_state(d: Path, tmp: Path) -> int:
    """The compiler's sizeof(hx_state_t): int16 cell fields between int8 fields pad the struct."""
    src = tmp / "sizeof.c"
    src.write_text('#include <stdio.h>\n#include "hx_model.h"\n'
                   'int main(void)\n{\n    printf("%zu", sizeof(hx_state_t));\n    return 0;\n}\n')
    subprocess.run(["gcc", *WARNINGS, f"-I{d}", f"-I{d / 'runtime' / 'include'}", str(src), "-o",
                    str(tmp / "sizeof")], check=True)
    return int(subprocess.run([str(tmp / "sizeof")], check=True, capture_output=True, text=True).stdout)
