"""int8 LSTM step kernel (firmware_export/runtime/src/lstm_step_s8.c): bit-exact with TensorFlow
Lite Micro's UNIDIRECTIONAL_SEQUENCE_LSTM on every hidden state of every step.

Three models are converted through the CLI (the demo LSTM, one small synthetic LSTM, two stacked
LSTMs). For each, ``LstmS8.c_definitions`` of every LSTM op goes into a host program (gcc -std=c99
-Wall -Wextra -Werror) that reads int8 sequences on stdin and writes every layer's hidden state of
every step on stdout; TFLite Micro runs the model cut after its last LSTM op, with every LSTM op's
output sequence as a model output. The stacked model's layers are chained in C (layer 2 reads the
C layer 1's hidden states)."""
from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgelstm.export.lstm_s8 import LstmS8, lstm_s8_from_tflite
from edgelstm.export.toolchain import RUNTIME

KERNEL_SRCS = ["lstm_step_s8.c", "lstm_gate_s8.c", "sigmoid_s16.c", "tanh_s16.c"]
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2"]

MODELS = {
    # name: (convert arguments, tflite file in the output folder)
    "demo": (["--demo", "lstm", "--quant", "int8", "--variant", "sequence,stateful"], "demo_lstm_sequence_int8.tflite"),
    "small": (["lstm:8,dense:3@5/4", "--synthetic-calib", "--quant", "int8", "--variant", "sequence"],
              "spec_sequence_int8.tflite"),
    "stacked": (["lstm:8+seq,lstm:6,dense:3@7/4", "--synthetic-calib", "--quant", "int8", "--variant", "sequence"],
                "spec_sequence_int8.tflite"),
}


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict[str, Path]:
    """The three example models, converted by the installed CLI (in parallel: 2 at a time)."""
    root = tmp_path_factory.mktemp("lstm_s8")
    exe = str(Path(sys.executable).with_name("edgelstm"))
    procs = {}
    for name, (args, _) in MODELS.items():
        procs[name] = subprocess.Popen([exe, "convert", *args, "-o", str(root / name)],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = {}
    for name, p in procs.items():
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, f"edgelstm convert {name} failed:\n{err[-3000:]}"
        out[name] = root / name / MODELS[name][1]
        assert out[name].exists(), sorted(p.name for p in (root / name).iterdir())
    return out


# ---- model reading and cutting ------------------------------------------------------------
def _read(path: Path):
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    return fbu.read_model_from_bytearray(bytearray(path.read_bytes()))


def _lstm_ops(model) -> list[int]:
    from tensorflow.lite.python import schema_py_generated as schema

    code = schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    sg = model.subgraphs[0]
    return [k for k, op in enumerate(sg.operators)
            if max(model.operatorCodes[op.opcodeIndex].builtinCode,
                   model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode) == code]


def _cut_after_lstms(model) -> bytes:
    """The model up to its last LSTM op, every LSTM op's output sequence (1, T, units) an output."""
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    ops = _lstm_ops(model)
    cut = copy.deepcopy(model)
    sg = cut.subgraphs[0]
    sg.operators = sg.operators[:ops[-1] + 1]
    sg.outputs = np.asarray([int(sg.operators[k].outputs[0]) for k in ops], np.int32)
    cut.signatureDefs = []
    return bytes(fbu.convert_object_to_bytearray(cut))


def _tflm_hidden(cut: bytes, xs: np.ndarray, n_layers: int) -> list[np.ndarray]:
    """Per layer, (N, T, units) int8 hidden states from TFLite Micro, state reset per sequence."""
    from tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(cut)
    per_layer: list[list[np.ndarray]] = [[] for _ in range(n_layers)]
    for x in xs:
        it.reset()
        it.set_input(x[None], 0)
        it.invoke()
        for k in range(n_layers):
            per_layer[k].append(np.asarray(it.get_output(k)).reshape(x.shape[0], -1).copy())
    return [np.stack(v) for v in per_layer]


# ---- the C host program -------------------------------------------------------------------
def _host_program(layers: list[LstmS8], steps: int) -> str:
    defs = "\n".join(L.c_definitions(f"layer{k}") for k, L in enumerate(layers))
    state = "\n".join(f"static int8_t h{k}[{L.units}];\nstatic int16_t c{k}[{L.units}];\n"
                      f"static int16_t s{k}[EL_LSTM_S8_SCRATCH_INT16({L.units})];" for k, L in enumerate(layers))
    reset = "\n".join(f"        for (int32_t u = 0; u < {L.units}; ++u) {{ h{k}[u] = (int8_t)layer{k}.hidden_zero_point; "
                      f"c{k}[u] = 0; }}" for k, L in enumerate(layers))
    step = [f"            lstm_step_s8(&layer0, x + t * {layers[0].input_size}, h0, c0, s0);"]
    step += [f"            lstm_step_s8(&layer{k}, h{k - 1}, h{k}, c{k}, s{k});" for k in range(1, len(layers))]
    write = [f"            fwrite(h{k}, 1, sizeof h{k}, stdout);" for k in range(len(layers))]
    return f"""/* test program: int8 sequences on stdin, every layer's hidden state per step on stdout */
#include <stdio.h>
#include <stdint.h>
#include "el_lstm_s8.h"

{defs}
{state}
static int8_t x[{steps} * {layers[0].input_size}];

int main(void)
{{
    while (fread(x, 1, sizeof x, stdin) == sizeof x) {{
{reset}
        for (int32_t t = 0; t < {steps}; ++t) {{
{chr(10).join(step)}
{chr(10).join(write)}
        }}
    }}
    return 0;
}}
"""


def _build(tmp: Path, layers: list[LstmS8], steps: int) -> Path:
    src = tmp / "lstm_host.c"
    src.write_text(_host_program(layers, steps))
    exe = tmp / "lstm_host"
    cmd = ["gcc", *CFLAGS, "-I", str(RUNTIME / "include"), str(src),
           *[str(RUNTIME / "src" / s) for s in KERNEL_SRCS], "-o", str(exe)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return exe


def _run_c(exe: Path, xs: np.ndarray, layers: list[LstmS8]) -> list[np.ndarray]:
    r = subprocess.run([str(exe)], input=np.ascontiguousarray(xs, np.int8).tobytes(), capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    n, steps = xs.shape[:2]
    widths = [L.units for L in layers]
    flat = np.frombuffer(r.stdout, np.int8).reshape(n, steps, sum(widths))
    bounds = np.cumsum([0] + widths)
    return [flat[:, :, bounds[k]:bounds[k + 1]] for k in range(len(layers))]


# ---- inputs --------------------------------------------------------------------------------
def _quantize(xf: np.ndarray, scale: float, zp: int) -> np.ndarray:
    return np.clip(np.round(xf / scale) + zp, -128, 127).astype(np.int8)


def _inputs(name: str, L: LstmS8, steps: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1234)
    shape = (steps, L.input_size)
    if name == "demo":  # the demo's real data: standardised BasicMotions test sequences
        from edgelstm.demo import normalised_basicmotions

        calib = normalised_basicmotions()[1].x[:10]
    else:  # what --synthetic-calib calibrates on: standard normal
        calib = rng.standard_normal((10, *shape)).astype(np.float32)
    return {
        "calibration-like": _quantize(calib, L.input_scale, L.input_zero_point),
        "uniform int8": rng.integers(-128, 128, (10, *shape), dtype=np.int8),
        "all -128": np.full((1, *shape), -128, np.int8),
        "all 127": np.full((1, *shape), 127, np.int8),
        "zero point": np.full((1, *shape), L.input_zero_point, np.int8),
        "alternating extremes": np.broadcast_to(np.where(np.arange(steps) % 2 == 0, 127, -128)[None, :, None],
                                                (1, *shape)).astype(np.int8),
    }


def _describe(mine: np.ndarray, want: np.ndarray) -> str:
    bad = np.argwhere(mine != want)
    s, t, u = bad[0]
    return (f"{len(bad)} of {mine.size} bytes differ; first: sequence {s}, step {t}, unit {u}: "
            f"C {mine[s, t, u]}, TFLM {want[s, t, u]}")


# ---- tests ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(MODELS))
def test_bit_exact_with_tflm(converted, name, tmp_path):
    model = _read(converted[name])
    ops = _lstm_ops(model)
    assert len(ops) == (2 if name == "stacked" else 1)
    layers = [lstm_s8_from_tflite(model, 0, k) for k in ops]
    steps = layers[0].time_steps
    exe = _build(tmp_path, layers, steps)
    cut = _cut_after_lstms(model)
    sets = _inputs(name, layers[0], steps)
    xs = np.concatenate(list(sets.values()))
    assert len(xs) >= 20
    got = _run_c(exe, xs, layers)
    want = _tflm_hidden(cut, xs, len(layers))
    start = 0
    for label, chunk in sets.items():
        sl = slice(start, start + len(chunk))
        start += len(chunk)
        for k in range(len(layers)):
            assert got[k][sl].shape == want[k][sl].shape
            assert np.array_equal(got[k][sl], want[k][sl]), f"{name} layer {k}, {label}: " + _describe(
                got[k][sl], want[k][sl])
    # the numpy integer reference agrees too (it is what debugging reaches for first)
    ref = layers[0].reference(xs[0])
    assert np.array_equal(ref, want[0][0])
    # the hidden states are not trivially saturated or constant
    assert len(np.unique(want[-1])) > 20


@pytest.mark.parametrize("cell_clip,cell_power", [(0.25, -12), (0.0, -9), (3.0, -16)])
def test_bit_exact_with_edited_cell_params(converted, tmp_path, cell_clip, cell_power):
    """The small model with its cell clip and cell scale edited in the flatbuffer, so that the
    clip actually bites (0.25 = 1024 cell units), no clip at all, and both tanh rescale branches
    (2^-9: t = 24 c; 2^-16: t = (3 c + 8) >> 4) are run against TFLite Micro."""
    model = _read(converted["small"])
    (op,) = _lstm_ops(model)
    sg = model.subgraphs[0]
    sg.operators[op].builtinOptions.cellClip = cell_clip
    sg.tensors[sg.operators[op].inputs[19]].quantization.scale = np.asarray([2.0 ** cell_power], np.float32)
    L = lstm_s8_from_tflite(model, 0, op)
    assert L.cell_clip_q == (min(int(cell_clip * 2.0 ** -cell_power), 32767) if cell_clip else -1)
    steps = L.time_steps
    xs = np.concatenate(list(_inputs("small", L, steps).values()))
    got = _run_c(_build(tmp_path, [L], steps), xs, [L])[0]
    want = _tflm_hidden(_cut_after_lstms(model), xs, 1)[0]
    assert np.array_equal(got, want), _describe(got, want)
    if cell_clip == 0.25:  # the clip is reached, and the C agrees with the numpy reference's h
        cells = np.stack([L.reference_states(x)[1] for x in xs])
        assert np.abs(cells).max() == L.cell_clip_q
        assert np.array_equal(np.stack([L.reference(x) for x in xs]), want)


def test_stateful_demo_steps(converted, tmp_path):
    """The demo's stateful artifact (T = 1 per invoke, state kept in TFLM's variable tensors
    between invokes): one C step per invoke gives the same hidden state each time."""
    path = converted["demo"].with_name("demo_lstm_stateful_int8.tflite")
    model = _read(path)
    (op,) = _lstm_ops(model)
    layer = lstm_s8_from_tflite(model, 0, op)
    assert layer.time_steps == 1
    seq = _inputs("demo", layer, 100)["calibration-like"][:2]
    exe = _build(tmp_path, [layer], 100)
    got = _run_c(exe, seq, [layer])[0]
    from tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(_cut_after_lstms(model))
    for s, x in enumerate(seq):
        it.reset()
        for t in range(x.shape[0]):
            it.set_input(x[t][None, None], 0)
            it.invoke()
            want = np.asarray(it.get_output(0)).reshape(-1)
            assert np.array_equal(got[s, t], want), f"sequence {s} step {t}: C {got[s, t]}, TFLM {want}"


def test_c_definitions_layout(converted):
    model = _read(converted["small"])
    (op,) = _lstm_ops(model)
    L = lstm_s8_from_tflite(model, 0, op)
    assert (L.input_size, L.units) == (4, 8)
    assert L.cell_scale == 2.0 ** L.cell_scale_power
    text = L.c_definitions("net_lstm")
    for gate in ("input", "forget", "cell", "output"):
        for arr in ("w_x", "w_h", "bias_x", "bias_h"):
            assert f"net_lstm_{gate}_{arr}[" in text
        assert f".{gate}_gate = {{" in text
    assert "static const int8_t net_lstm_forget_w_x[32]" in text
    assert "(8, 4)" in text and "(8, 8)" in text
    assert "const el_lstm_s8_t net_lstm = {" in text


def test_unsupported_is_a_clear_value_error(converted):
    model = _read(converted["small"])
    (op,) = _lstm_ops(model)
    sg = model.subgraphs[0]
    with pytest.raises(ValueError, match="not an UNIDIRECTIONAL_SEQUENCE_LSTM"):
        lstm_s8_from_tflite(model, 0, op + 1)
    for slots, what in (((9,), "peephole"), ((16,), "projection"), ((20,), "layer norm"), ((1, 5), "CIFG")):
        m = copy.deepcopy(model)
        ins = m.subgraphs[0].operators[op].inputs
        for s in slots:
            ins[s] = ins[2] if what != "CIFG" else -1
        with pytest.raises(ValueError, match=what):
            lstm_s8_from_tflite(m, 0, op)
    m = copy.deepcopy(model)
    cell = m.subgraphs[0].tensors[sg.operators[op].inputs[19]]
    cell.quantization.scale = np.asarray([3e-4], np.float32)
    with pytest.raises(ValueError, match="power of two"):
        lstm_s8_from_tflite(m, 0, op)


def test_cross_compiles_for_cortex_m4(tmp_path):
    cc = shutil.which("arm-none-eabi-gcc")
    if cc is None:
        pytest.skip("arm-none-eabi-gcc is not installed (make setup installs it)")
    for s in KERNEL_SRCS:
        r = subprocess.run([cc, "-mcpu=cortex-m4", "-mthumb", *CFLAGS, "-I", str(RUNTIME / "include"), "-c",
                            str(RUNTIME / "src" / s), "-o", str(tmp_path / (s + ".o"))], capture_output=True, text=True)
        assert r.returncode == 0, f"{s}:\n{r.stderr}"
