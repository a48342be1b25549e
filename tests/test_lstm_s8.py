"""int8 LSTM step kernel (firmware_export/runtime/src/lstm_step_s8.c): bit-exact with TensorFlow
Lite Micro's UNIDIRECTIONAL_SEQUENCE_LSTM on every hidden state of every step, on each of its
three paths: plain C (host gcc), DSP (Cortex-M4 in QEMU) and MVE (Cortex-M55 in QEMU, mps3-an547).

Three models are converted through the CLI (the demo LSTM, the session's conversion in conftest; one
small synthetic LSTM, two stacked LSTMs; the synthetic sizes are not multiples of 4). For each,
``LstmS8.c_definitions`` of every LSTM op goes into one check program (board API: stdio on the host,
semihosting on QEMU) that reads int8 sequences and writes every layer's hidden state of every step;
TFLite Micro runs the model cut after its last LSTM op, with every LSTM op's output sequence as a model
output. The stacked model's layers are chained in C (layer 2 reads the C layer 1's hidden states).
Edited copies of the small model drive the kernel's other branches: cell clip and cell scale,
requantizations with left shifts and biases too large for doubled accumulators.

The fixed-point identities the fast paths rely on (el_lstm_s8_internal.h) are checked separately, on
every path: the table sigmoid/tanh on all int16 inputs against el_sigmoid_s16/el_tanh_s16, the fast
requantizations on random and edge values against el_requantize."""
from __future__ import annotations

import copy
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_folder

from edgelstm.export.lstm_s8 import LstmS8, lstm_s8_from_tflite
from edgelstm.export.toolchain import BOARDS, RUNTIME


KERNEL_SRCS = ["lstm_step_s8.c", "sigmoid_s16.c"]
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2"]
CORES = {"cortex-m0plus": ["-mfloat-abi=soft"], "cortex-m3": ["-mfloat-abi=soft"],
         "cortex-m4": ["-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"], "cortex-m7": ["-mfloat-abi=hard", "-mfpu=fpv5-d16"],
         "cortex-m33": ["-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"], "cortex-m55": ["-mfloat-abi=hard"]}
PATHS = {"host": "plain C", "cortex-m4": "DSP", "cortex-m55": "MVE"}

MODELS = {
    # name: (convert arguments, tflite file in the output folder). The demo LSTM's int8 sequence and stateful
    # artifacts are the session's (conftest lstm_artifacts: the .keras file and calibration set of
    # `edgelstm convert --demo lstm`): the sequence file is byte-identical, the stateful one differs only in
    # layer names and the initial bytes of the fused op's state tensors, which reset() overwrites
    # sizes that are not multiples of 4 (the DSP groups) or 16 (the MVE passes, 4 units per pass)
    "small": (["lstm:13,dense:3@5/7", "--synthetic-calib", "--quant", "int8", "--variant", "sequence"],
              "spec_sequence_int8.tflite"),
    "stacked": (["lstm:9+seq,lstm:6,dense:3@7/5", "--synthetic-calib", "--quant", "int8", "--variant", "sequence"],
                "spec_sequence_int8.tflite"),
}
NAMES = ["demo", *MODELS]


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict[str, Path]:
    """The synthetic models, converted by the installed CLI (all at once; once per run, see shared_folder)."""
    def build(root: Path) -> None:
        exe = str(Path(sys.executable).with_name("edgelstm"))
        procs = {}
        for name, (args, _) in MODELS.items():
            procs[name] = subprocess.Popen([exe, "convert", *args, "-o", str(root / name)],
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, p in procs.items():
            _, err = p.communicate(timeout=600)
            assert p.returncode == 0, f"edgelstm convert {name} failed:\n{err[-3000:]}"

    root = shared_folder(tmp_path_factory, "lstm_s8", build)
    out = {name: root / name / MODELS[name][1] for name in MODELS}
    for name, path in out.items():
        assert path.exists(), sorted(p.name for p in (root / name).iterdir())
    return out


@pytest.fixture(scope="module")
def demo_int8(lstm_artifacts) -> dict[str, Path]:
    """The demo LSTM's int8 TFLite artifacts, variant -> path: the session's conversion (conftest)."""
    return {v: Path(lstm_artifacts.get("tflite", v, "int8")["path"]) for v in ("sequence", "stateful")}


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


# ---- the check program, and where it runs ---------------------------------------------------
def _program(layers: list[LstmS8], steps: int) -> str:
    """int32 n, then n int8 sequences in; per sequence every layer's hidden state per step out."""
    defs = "\n".join(L.c_definitions(f"layer{k}") for k, L in enumerate(layers))
    state = "\n".join(f"static int8_t h{k}[{L.units}];\nstatic int16_t c{k}[{L.units}];\n"
                      f"static int32_t s{k}[EL_LSTM_S8_SCRATCH_WORDS({L.input_size}, {L.units})];"
                      for k, L in enumerate(layers))
    reset = "\n".join(f"        for (int32_t u = 0; u < {L.units}; ++u) {{ h{k}[u] = (int8_t)layer{k}.hidden_zero_point; "
                      f"c{k}[u] = 0; }}" for k, L in enumerate(layers))
    step = [f"            el_lstm_step_s8(&layer0, x + t * {layers[0].input_size}, h0, c0, s0);"]
    step += [f"            el_lstm_step_s8(&layer{k}, h{k - 1}, h{k}, c{k}, s{k});" for k in range(1, len(layers))]
    width = sum(L.units for L in layers)
    copy_out, off = [], 0
    for k, L in enumerate(layers):
        copy_out.append(f"            for (int32_t u = 0; u < {L.units}; ++u) {{ y[t * {width} + {off} + u] = h{k}[u]; }}")
        off += L.units
    return f"""/* test program: int8 sequences in, every layer's hidden state per step out (board API) */
#include <stdint.h>
#include "board.h"
#include "el_lstm_s8.h"
#define EL_MODEL_ALIGN(n) __attribute__((aligned(n)))  /* what a generated model maps to <P>_ALIGN */
#define EL_MODEL_SECTION

{defs}
{state}
static int8_t x[{steps} * {layers[0].input_size}];
static int8_t y[{steps} * {width}];

int main(void)
{{
    int32_t n;
    if (board_read(&n, sizeof n) != 0) {{
        return 2;
    }}
    for (int32_t q = 0; q < n; ++q) {{
        if (board_read(x, sizeof x) != 0) {{
            return 2;
        }}
{reset}
        for (int32_t t = 0; t < {steps}; ++t) {{
{chr(10).join(step)}
{chr(10).join(copy_out)}
        }}
        board_write(y, sizeof y);
    }}
    return 0;
}}
"""


# mps3-an547 (Cortex-M55): ITCM 512 KB at 0 (boot), DTCM 512 KB at 0x20000000; sections as mps2.ld
_AN547_LD = (BOARDS / "mps2" / "mps2.ld").read_text().replace(
    "ORIGIN = 0x00000000, LENGTH = 4M", "ORIGIN = 0x00000000, LENGTH = 512K").replace(
    "ORIGIN = 0x20000000, LENGTH = 4M", "ORIGIN = 0x20000000, LENGTH = 512K")


def _have(*tools: str) -> bool:
    return all(shutil.which(t) for t in tools)


def _target_or_skip(target: str) -> None:
    if target != "host" and not _have("arm-none-eabi-gcc", "qemu-system-arm"):
        pytest.skip("arm-none-eabi-gcc or qemu-system-arm is not installed (make setup installs them)")


def _run_program(tmp: Path, source: str, target: str, data: bytes, extra: list[Path] = ()) -> bytes:
    """Build source (+ the LSTM runtime) for target, run it with data as input, return its output."""
    src = tmp / f"prog_{target}.c"
    src.write_text(source)
    sources = [src, *[RUNTIME / "src" / s for s in KERNEL_SRCS], *extra]
    if target == "host":
        exe = tmp / "prog_host"
        r = subprocess.run(["gcc", *CFLAGS, f"-I{RUNTIME / 'include'}", f"-I{BOARDS / 'host'}", *map(str, sources),
                            str(BOARDS / "host" / "board_host.c"), "-o", str(exe)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        r = subprocess.run([str(exe)], input=data, capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout
    from edgelstm.run import qemu

    if target in qemu.supported_targets():
        elf = qemu.build_firmware(sources, [RUNTIME / "include"], target, tmp / f"prog_{target}.elf")
        return qemu.run_firmware(elf, target, data, timeout_s=120).output
    assert target == "cortex-m55", target  # until edgelstm run has the board: the same harness by hand
    ld = tmp / "an547.ld"
    ld.write_text(_AN547_LD)
    elf = tmp / "prog_m55.elf"
    mps2 = BOARDS / "mps2"
    r = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard", *CFLAGS,
                        "-ffunction-sections", "-fdata-sections", f"-I{mps2}", f"-I{RUNTIME / 'include'}",
                        *map(str, sources), str(mps2 / "startup.c"), str(mps2 / "board.c"), "-nostartfiles",
                        "--specs=nano.specs", f"-T{ld}", "-Wl,--gc-sections", "-lm", "-o", str(elf)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    run = tmp / "m55run"
    run.mkdir(exist_ok=True)
    (run / "in.bin").write_bytes(data)
    (run / "out.bin").unlink(missing_ok=True)
    r = subprocess.run(["qemu-system-arm", "-M", "mps3-an547", "-nographic", "-monitor", "none", "-serial", "null",
                        "-semihosting-config", "enable=on,target=native", "-icount", "shift=10", "-kernel", str(elf)],
                       cwd=run, capture_output=True, timeout=120)
    assert r.returncode == 0, f"QEMU mps3-an547 exit {r.returncode}: {r.stderr[-500:]!r}"
    return (run / "out.bin").read_bytes()


def _run_c(tmp: Path, target: str, layers: list[LstmS8], xs: np.ndarray) -> list[np.ndarray]:
    n, steps = xs.shape[:2]
    data = struct.pack("<i", n) + np.ascontiguousarray(xs, np.int8).tobytes()
    out = _run_program(tmp, _program(layers, steps), target, data)
    widths = [L.units for L in layers]
    flat = np.frombuffer(out, np.int8).reshape(n, steps, sum(widths))
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


def _check_all_paths(tmp: Path, model, layers: list[LstmS8], sets: dict[str, np.ndarray], what: str) -> None:
    """Every path's hidden states equal TFLite Micro's, input set by input set."""
    xs = np.concatenate(list(sets.values()))
    want = _tflm_hidden(_cut_after_lstms(model), xs, len(layers))
    for target, path in PATHS.items():
        if target != "host" and not _have("arm-none-eabi-gcc", "qemu-system-arm"):
            continue
        got = _run_c(tmp, target, layers, xs)
        start = 0
        for label, chunk in sets.items():
            sl = slice(start, start + len(chunk))
            start += len(chunk)
            for k in range(len(layers)):
                assert got[k][sl].shape == want[k][sl].shape
                assert np.array_equal(got[k][sl], want[k][sl]), \
                    f"{what}, {path} path ({target}), layer {k}, {label}: " + _describe(got[k][sl], want[k][sl])


# ---- tests ---------------------------------------------------------------------------------
@pytest.mark.qemu
@pytest.mark.parametrize("name", NAMES)
def test_bit_exact_with_tflm(name, tmp_path, request):
    # (the fixture a parameter needs, only: the demo's conversion is the session's)
    path = request.getfixturevalue("demo_int8")["sequence"] if name == "demo" else \
        request.getfixturevalue("converted")[name]
    model = _read(path)
    ops = _lstm_ops(model)
    assert len(ops) == (2 if name == "stacked" else 1)
    layers = [lstm_s8_from_tflite(model, 0, k) for k in ops]
    steps = layers[0].time_steps
    sets = _inputs(name, layers[0], steps)
    assert sum(len(v) for v in sets.values()) >= 20
    for L in layers:  # the demo's input requantizations have shift 0
        assert L.kernel_mode() == ("zero" if name == "demo" else "fast")
    _check_all_paths(tmp_path, model, layers, sets, name)
    # the numpy integer reference agrees too (it is what debugging reaches for first)
    xs = np.concatenate(list(sets.values()))
    want = _tflm_hidden(_cut_after_lstms(model), xs[:1], len(layers))
    assert np.array_equal(layers[0].reference(xs[0]), want[0][0])
    assert len(np.unique(want[-1])) > 3


def _edited(converted, **edit) -> tuple[object, LstmS8]:
    """The small model with one parameter edited in the flatbuffer, and its kernel parameters."""
    model = _read(converted["small"])
    (op,) = _lstm_ops(model)
    sg = model.subgraphs[0]
    o = sg.operators[op]
    if "cell_clip" in edit:
        o.builtinOptions.cellClip = edit["cell_clip"]
    if "cell_power" in edit:
        sg.tensors[o.inputs[19]].quantization.scale = np.asarray([2.0 ** edit["cell_power"]], np.float32)
    if "weight_scale" in edit:  # every input weight scale times k: left-shift requantizations
        for slot in (1, 2, 3, 4):
            q = sg.tensors[o.inputs[slot]].quantization
            q.scale = np.asarray(q.scale, np.float32) * np.float32(edit["weight_scale"])
    if "bias" in edit:  # the forget gate's bias of unit 0 set to a huge value
        t = sg.tensors[o.inputs[13]]
        b = np.frombuffer(bytes(bytearray(model.buffers[t.buffer].data)), np.int32).copy()
        b[0] = edit["bias"]
        model.buffers[t.buffer].data = np.frombuffer(b.tobytes(), np.uint8)
    return model, lstm_s8_from_tflite(model, 0, op)


@pytest.mark.qemu
@pytest.mark.parametrize("edit,mode", [
    ({"cell_clip": 0.25, "cell_power": -12}, "fast"),  # the clip bites (1024 cell units)
    ({"cell_clip": 0.0, "cell_power": -9}, "fast"),    # no clip; tanh rescale t = 24 c
    ({"cell_clip": 3.0, "cell_power": -16}, "fast"),   # t = (3 c + 8) >> 4
    ({"weight_scale": 64.0}, "any"),                   # x parts shift left
    ({"bias": -(1 << 30) - 5}, "exact"),               # accumulators too large to double
], ids=["clip", "no-clip", "fine-cell", "left-shifts", "huge-bias"])
def test_bit_exact_with_edited_params(converted, tmp_path, edit, mode):
    """Edited copies of the small model against TFLite Micro on every path, in each requantization
    mode of the kernel (the demo model covers "zero")."""
    model, L = _edited(converted, **edit)
    assert L.kernel_mode() == mode
    if "weight_scale" in edit:
        assert max(g.shift_x for g in L.gates.values()) > 0
    if "cell_clip" in edit:
        want_clip = min(int(edit["cell_clip"] * 2.0 ** -edit["cell_power"]), 32767) if edit["cell_clip"] else -1
        assert L.cell_clip_q == want_clip
    sets = _inputs("small", L, L.time_steps)
    _check_all_paths(tmp_path, model, [L], sets, str(edit))
    if edit.get("cell_clip") == 0.25:  # the clip is reached, and the numpy reference agrees
        xs = np.concatenate(list(sets.values()))
        cells = np.stack([L.reference_states(x)[1] for x in xs])
        assert np.abs(cells).max() == L.cell_clip_q
        want = _tflm_hidden(_cut_after_lstms(model), xs, 1)[0]
        assert np.array_equal(np.stack([L.reference(x) for x in xs]), want)


IDENTITIES = r"""
/* The fast forms of el_lstm_s8_internal.h against the reference functions: prints mismatches. */
#include <stdint.h>
#include "board.h"
#include "el_lstm_s8_internal.h"

static uint32_t rng = 12345u;
static uint32_t next(void) { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng; }

int main(void)
{
    uint32_t bad[5] = {0, 0, 0, 0, 0};
    static int16_t in[256], ref[256];
    /* sigmoid and tanh of Q3.12 (the gates) and tanh on the cell grids, all int16 inputs */
    static const int32_t tanh_q[][2] = {{3, 0}, {24, 0}, {6, 0}, {3, 1}, {3, 2}, {3, 4}, {3 << 15, 0}};
    for (int32_t base = -32768; base < 32768; base += 256) {
        for (int32_t i = 0; i < 256; ++i) {
            in[i] = (int16_t)(base + i);
        }
        el_sigmoid_s16(in, ref, 256, 3, 0);
        for (int32_t i = 0; i < 256; ++i) {
            bad[0] += el_lstm_sigmoid_q312(in[i]) != ref[i];
        }
        for (uint32_t q = 0; q < sizeof tanh_q / sizeof tanh_q[0]; ++q) {
            const int32_t mul = tanh_q[q][0], sh = tanh_q[q][1];
            el_tanh_s16(in, ref, 256, mul, sh);
            for (int32_t i = 0; i < 256; ++i) {
                const int32_t t = el_lstm_asr(in[i] * mul + (sh > 0 ? 1 << (sh - 1) : 0), sh);
                bad[1] += el_lstm_tanh_grid(t) != ref[i];
            }
        }
    }
    /* requantization: random and edge accumulators, multipliers in [2^30, 2^31), shifts -31..10 */
    static const int32_t edges[] = {0, 1, -1, 2, -2, 3, -3, (1 << 30) - 1, -(1 << 30) + 1, -(1 << 30), 12345, -12345};
    for (int32_t k = 0; k < 200000; ++k) {
        el_lstm_s8_rq_t q;
        const uint32_t r = next();
        q.multiplier = (int32_t)((1u << 30) | (next() >> 2));
        if (k % 7 == 0) {
            q.multiplier = 1 << 30;
        }
        q.shift = (int32_t)(r % 42u) - 31; /* as the generator writes them (edgelstm/export/lstm_s8.py) */
        const int32_t e = q.shift < 0 ? -q.shift : 0;
        q.round = e ? 1 << (e - 1) : 0;
        q.rshift = e ? (uint32_t)e | 0x80000000u : 0u;
        q.lshift = q.shift > 0 ? q.shift : 0;
        int32_t a = (int32_t)next() >> (next() % 31u);
        if (k < (int32_t)(sizeof edges / sizeof edges[0]) * 4) {
            a = edges[k / 4] + (k % 4 == 3 ? -(q.round ? q.round : 1) : 0);
        }
        while (a >= (1 << 30) >> q.lshift || a < -((1 << 30) >> q.lshift)) { /* |a << lshift| < 2^30 */
            a /= 2;
        }
        const int32_t want = el_requantize(a, q.multiplier, q.shift);
        if (e > 0) {
            bad[2] += el_lstm_rq_fast(2 * a, &q) != want;
        }
        if (q.shift <= 0) {
            bad[2] += el_lstm_rq_zero(2 * a, &q) != want;
        }
        bad[3] += el_lstm_rq_any(2 * a, &q) != want;
#if defined(__ARM_FEATURE_MVE)
        /* the vector forms take any int32 (no doubling) */
        const int32_t lanes[4] = {a, -a, (int32_t)next(), (int32_t)(next() | 0x80000000u)};
        int32_t got[4], gotf[4];
        vst1q_s32(got, el_lstm_mve_rq(vld1q_s32(lanes), &q, 0));
        vst1q_s32(gotf, el_lstm_mve_rq(vld1q_s32(lanes), &q, 1));
        for (int32_t l = 0; l < 4; ++l) {
            const int32_t w = el_requantize(lanes[l], q.multiplier, q.shift);
            bad[4] += got[l] != w;
            bad[4] += e > 0 && gotf[l] != w;
        }
#endif
    }
    board_write(bad, sizeof bad);
    return 0;
}
"""


@pytest.mark.qemu
@pytest.mark.parametrize("target", list(PATHS))
def test_fixed_point_identities(tmp_path, target):
    """The table sigmoid/tanh of the step (all int16 inputs, the gate and several cell grids) and
    the fast requantizations (random and edge values) equal the reference functions on each path."""
    _target_or_skip(target)
    out = _run_program(tmp_path, IDENTITIES, target, b"", [RUNTIME / "src" / "tanh_s16.c"])
    bad = struct.unpack("<5I", out)
    names = ("sigmoid Q3.12", "tanh grid", "rq fast/zero", "rq any", "MVE rq")
    assert bad == (0,) * 5, {n: b for n, b in zip(names, bad) if b}


@pytest.mark.qemu
def test_stateful_demo_steps(demo_int8, tmp_path):
    """The demo's stateful artifact (T = 1 per invoke, state kept in TFLM's variable tensors
    between invokes): one C step per invoke gives the same hidden state each time."""
    model = _read(demo_int8["stateful"])
    (op,) = _lstm_ops(model)
    layer = lstm_s8_from_tflite(model, 0, op)
    assert layer.time_steps == 1
    seq = _inputs("demo", layer, 100)["calibration-like"][:2]
    got = _run_c(tmp_path, "host", [layer], seq)[0]
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
    """The unit-interleaved weight layout, the per-unit biases and the requantization constants."""
    model = _read(converted["small"])
    (op,) = _lstm_ops(model)
    L = lstm_s8_from_tflite(model, 0, op)
    assert (L.input_size, L.units) == (7, 13)
    assert L.cell_scale == 2.0 ** L.cell_scale_power
    wx = L.weight_layout("x")
    assert wx.size == 13 * 4 * 8 + 48 and not wx[-48:].any()
    blocks = wx[:-48].reshape(13, 2, 4, 4)  # unit, group of 4 columns, gate, column in group
    for k, gate in enumerate(("input", "forget", "cell", "output")):
        rows = blocks[:, :, k, :].reshape(13, 8)
        assert np.array_equal(rows[:, :7], L.gates[gate].w_x) and not rows[:, 7:].any()
    wh = L.weight_layout("h")
    assert wh.size == 13 * 4 * 16 + 48
    assert np.array_equal(wh[:-48].reshape(13, 4, 4, 4)[:, :, 3, :].reshape(13, 16)[:, :13], L.gates["output"].w_h)
    b = L.bias_layout()
    mode = L.kernel_mode()
    assert b.shape == (16, 8) and not b[13:].any()
    assert np.array_equal(b[:13, 1], L.gates["forget"].bias_x * (1 if mode == "exact" else 2))
    assert np.array_equal(b[:13, 6], L.gates["cell"].bias_h * (1 if mode == "exact" else 2))
    text = L.c_definitions("net_lstm")
    assert "static const int8_t net_lstm_w_x[464] EL_MODEL_ALIGN(16) EL_MODEL_SECTION" in text
    assert "static const int8_t net_lstm_w_h[880] EL_MODEL_ALIGN(16) EL_MODEL_SECTION" in text
    assert "static const int32_t net_lstm_bias[128]" in text
    assert "const el_lstm_s8_t net_lstm EL_MODEL_SECTION = {" in text
    g = L.gates["cell"]
    e = -g.shift_h
    assert (f"{{ .multiplier = {g.mult_h}, .round = {1 << (e - 1)}, .rshift = {e}u | 0x80000000u, .lshift = 0, "
            f".shift = {g.shift_h} }}, /* cell h */") in text
    assert f".mode = EL_LSTM_S8_MODE_{mode.upper()}," in text


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
    m = copy.deepcopy(model)  # code 6, sigmoid in TFLite's C enum: TFLite Micro applies no activation
    m.subgraphs[0].operators[op].builtinOptions.fusedActivationFunction = 6
    with pytest.raises(ValueError, match="cell activation code 6 is not supported"):
        lstm_s8_from_tflite(m, 0, op)
    m = copy.deepcopy(model)
    cell = m.subgraphs[0].tensors[sg.operators[op].inputs[19]]
    cell.quantization.scale = np.asarray([3e-4], np.float32)
    with pytest.raises(ValueError, match="power of two"):
        lstm_s8_from_tflite(m, 0, op)


def test_cross_compiles_for_every_core(tmp_path):
    """One source for every core: the kernel compiles warning-free at -O2, and at -O0 where it has
    assembly or vector code (the DSP loop's assembly must fit the registers left when the frame
    pointer is kept)."""
    if not _have("arm-none-eabi-gcc"):
        pytest.skip("arm-none-eabi-gcc is not installed (make setup installs it)")
    for core, flags in CORES.items():
        for opt in ("-O2", "-O0") if core in ("cortex-m4", "cortex-m55") else ("-O2",):
            for s in KERNEL_SRCS:
                r = subprocess.run(["arm-none-eabi-gcc", f"-mcpu={core}", "-mthumb", *flags, *CFLAGS, opt,
                                    "-I", str(RUNTIME / "include"), "-c", str(RUNTIME / "src" / s),
                                    "-o", str(tmp_path / (s + ".o"))], capture_output=True, text=True)
                assert r.returncode == 0, f"{core} {opt} {s}:\n{r.stderr}"
