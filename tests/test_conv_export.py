"""C export of convolutional front ends (issue 12): Conv1D (CONV_2D; valid, same, strided, dilated),
Max/AveragePooling1D (MAX_POOL_2D, AVERAGE_POOL_2D, 'same' windows at the edges), GlobalAverage/
GlobalMaxPooling1D (MEAN, REDUCE_MAX; MAXIMUM chains in the lowered GRU graphs), BatchNormalization
folded, const-padded CONCATENATION: every output integer of the generated C equals TFLite Micro's,
on the host and on QEMU's Cortex-M4.

The Keras models are built here with fixed seeds and random weights (bit-exactness needs no training)
and exported through the API, two at a time; `edgelstm run` runs one on QEMU."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import check_more_vectors, export_all, keras_models, run_cli

from edgelstm.export.check import MODE_STEP, expected_step, run_check_program

T, F = 20, 3  # window and features of every model here


def _build(kind: str):
    import keras

    L = keras.layers
    keras.utils.set_random_seed(12)
    same_front = [L.Conv1D(8, 3, strides=2, padding="same", activation="relu"),  # 20 -> 10, pads 1 step after
                  L.Conv1D(8, 3, dilation_rate=2, padding="same"),  # effective kernel 5: 2 steps each side
                  L.AveragePooling1D(3, padding="same"),  # 10 -> 4: edge windows average fewer steps
                  L.MaxPooling1D(2, strides=1, padding="same")]
    layers = {
        # HAR CNN-LSTM
        "cnn_lstm": [L.Conv1D(16, 5, activation="relu"), L.MaxPooling1D(2), L.LSTM(16),
                     L.Dense(4, activation="softmax")],
        # CRNN: a GRU model is lowered (unrolled): the conv becomes per-step FULLY_CONNECTED over
        # CONCATENATIONs with constant zero padding, the max pooling MAXIMUM ops
        "crnn": [L.Conv1D(8, 3, padding="same"), L.BatchNormalization(), L.MaxPooling1D(2),
                 L.GRU(8, return_sequences=True), L.GRU(8), L.Dense(3, activation="softmax")],
        "same_gavg": [*same_front, L.LSTM(8, return_sequences=True), L.GlobalAveragePooling1D(), L.Dense(3)],
        "same_gmax": [*same_front, L.LSTM(8, return_sequences=True), L.GlobalMaxPooling1D(), L.Dense(3)],
        # a 'valid' front end the C export streams through a ring: dilated conv, overlapping strided average
        # pooling, strided depthwise conv with relu, stacked LSTMs, a linear head (9 inputs per step, stride 4)
        "window": [L.Conv1D(8, 3, dilation_rate=2), L.AveragePooling1D(3, strides=2),
                   L.DepthwiseConv1D(2, strides=2, activation="relu"), L.LSTM(8, return_sequences=True), L.LSTM(6),
                   L.Dense(3)],
    }[kind]
    m = keras.Sequential([keras.Input((T, F)), *layers])
    x = np.random.default_rng(3).normal(size=(24, T, F)).astype(np.float32)
    m(x[:2])
    for layer in m.layers:
        if isinstance(layer, L.BatchNormalization):  # make the folded BatchNormalization non-trivial
            g, b, mu, v = layer.get_weights()
            layer.set_weights([g * 1.5, b + 0.1, mu + 0.2, v * 2])
    return m, x


EXPORTS = {  # name: (model, quant)
    "cnn_lstm": ("cnn_lstm", "int8"),
    "crnn": ("crnn", "int8"),
    "same_gavg": ("same_gavg", "int8"),
    "same_gmax_f32": ("same_gmax", "float32"),
    "window": ("window", "int8"),
}


@pytest.fixture(scope="module")
def conv_models(tmp_path_factory) -> dict:
    """kind -> (LoadedModel, calibration Dataset), from .keras files as a user has them."""
    return keras_models(tmp_path_factory, "conv_models", sorted({m for m, _ in EXPORTS.values()}), _build)


@pytest.fixture(scope="module")
def conv_exports(conv_models, tmp_path_factory) -> dict[str, Path]:
    return export_all(tmp_path_factory, "conv_exports", EXPORTS, conv_models)


def _info(d: Path) -> dict:
    return json.loads((d / "export.json").read_text())


# ops of the C graph and runtime kernels each export must use (what the test is about)
WANT = {
    "cnn_lstm": ({"CONV_2D": 1, "MAX_POOL_2D": 1, "UNIDIRECTIONAL_SEQUENCE_LSTM": 1}, {"conv_s8", "maxpool_s8"}),
    "crnn": ({"CONCATENATION": T, "MAXIMUM": T // 2}, {"fc_s8", "maximum_s8"}),
    "same_gavg": ({"CONV_2D": 2, "AVERAGE_POOL_2D": 1, "MAX_POOL_2D": 1, "MEAN": 1},
                  {"conv_s8", "avgpool_s8", "maxpool_s8", "mean_s8"}),
    "same_gmax_f32": ({"CONV_2D": 2, "AVERAGE_POOL_2D": 1, "MAX_POOL_2D": 1, "REDUCE_MAX": 1},
                      {"conv_f32", "avgpool_f32", "maxpool_f32", "reduce_max_f32"}),
    "window": ({"CONV_2D": 1, "AVERAGE_POOL_2D": 1, "DEPTHWISE_CONV_2D": 1, "UNIDIRECTIONAL_SEQUENCE_LSTM": 2},
               {"conv_s8", "avgpool_s8", "dwconv_s8", "lstm_step_s8"}),
}
STREAMED = {"cnn_lstm": (6, 2), "window": (9, 4)}  # exports with hx_step through a ring: (window rows, stride)


@pytest.mark.parametrize("name", list(EXPORTS))
def test_conv_front_end_export_is_bit_exact_with_tflm(name, conv_exports, tmp_path):
    d = conv_exports[name]
    info = _info(d)
    ops, kernels = WANT[name]
    for op, n in ops.items():
        assert info["ops"].get(op) == n, (op, info["ops"])
    assert kernels <= {k["kernel"] for k in info["kernels"]}
    # the export's own check against TFLite Micro (hx_step too when it streams through a ring)
    modes = [("run", 0), ("step", 0)] if name in STREAMED else [("run", 0)]
    assert [(r["mode"], r["mismatches"]) for r in info["host_check"]] == modes
    exe, xs, got = check_more_vectors(d, info, tmp_path, seed=12)
    if name in STREAMED:  # every hx_step output, on the same vectors, against TFLite Micro on the window graph
        steps = run_check_program([str(exe)], info, xs, MODE_STEP)
        assert steps.shape == (len(xs), T, info["api"]["output_size"])
        assert np.array_equal(steps, expected_step(d, info, xs)), "hx_step differs from TFLite Micro"
        assert np.array_equal(steps[:, -1:], got)  # streaming the window ends where hx_run does


def test_valid_front_ends_stream_through_a_ring_and_same_ones_do_not(conv_exports):
    """'valid' conv/pool front ends before LSTMs: hx_step through a ring of the last R inputs, one recurrent step
    every S inputs; a 'same' front end (its last windows read inputs not yet arrived) is hx_run only, and says why."""
    for name, (rows, stride) in STREAMED.items():
        d = conv_exports[name]
        info = _info(d)
        assert info["api"]["streaming"] is True and info["api"]["window"] == {"rows": rows, "stride": stride}
        assert info["api"]["functions"] == ["hx_reset", "hx_step", "hx_run"] and "window graph" in info["c_graph"]
        header = (d / "hx_model.h").read_text()
        assert f"#define HX_WINDOW_ROWS {rows}" in header and f"#define HX_WINDOW_STRIDE {stride}" in header
        assert f"window[{rows * F}]" in header and "void hx_step" in header
    d = conv_exports["same_gavg"]
    info = _info(d)
    assert info["api"]["streaming"] is False and info["api"]["functions"] == ["hx_reset", "hx_run"]
    assert "Conv1D/pooling" in info["c_graph"]
    header = (d / "hx_model.h").read_text()
    assert "#define HX_STREAMING 0" in header and "void hx_step" not in header


def test_stateful_variant_of_a_conv_model_is_refused(conv_models, tmp_path):
    from edgelstm.errors import UnsupportedCombination
    from edgelstm.export.api import export

    model, calib = conv_models["cnn_lstm"]
    with pytest.raises(UnsupportedCombination) as e:
        export(model, tmp_path / "refused", variant="stateful", calib=calib)
    assert "Conv1D/pooling layers" in str(e.value) and "ring buffer" in str(e.value)
    assert "--variant sequence" in str(e.value)
    assert not (tmp_path / "refused").exists()


def test_cnn_lstm_on_qemu_cortex_m4_is_bit_exact(conv_exports):
    d = conv_exports["cnn_lstm"]
    info = _info(d)
    r = json.loads(run_cli("run", str(d), "--target", "cortex-m4", "--vectors", "8", "--json").stdout)
    assert (r["board"], r["vectors"], r["outputs_compared"]) == ("mps2-an386", 8, 8 * 4)
    assert r["mismatches"] == 0 and r["max_abs_diff_lsb"] == 0
    # conv (16 x 16 steps x 5 taps x 3 in), LSTM (8 steps x 4 gates x 16 x (16 + 16)), Dense (16 x 4)
    assert r["macs_per_inference"] == info["macs"]["per_run"] == 16 * 16 * 5 * 3 + 8 * 4 * 16 * 32 + 16 * 4
    # hx_run is hx_step over the inputs (ring of 6): a completing hx_step runs 2 conv outputs, one LSTM step, Dense
    assert info["macs"]["per_step"] == 2 * 16 * 5 * 3 + 4 * 16 * 32 + 16 * 4
    assert {"conv_s8", "maxpool_s8"} <= set(r["flash_bytes"]["kernels"])


@pytest.mark.parametrize("same", [False, True], ids=["requantize", "same_scale"])
def test_mean_s8_kernel_matches_tflm(same, conv_exports, tmp_path):
    """mean_s8 on the export's MEAN op, and on that op with the input's scale and zero point on its output:
    TFLite Micro then still requantizes (QuantizedMeanOrSum), it does not take the truncated plain mean."""
    import subprocess

    from tflite_micro import runtime

    from edgelstm.export.graph import one_op_model, read_graph
    from edgelstm.export.quantparams import mean_params
    from edgelstm.export.toolchain import RUNTIME

    g = read_graph((conv_exports["same_gavg"] / "hx.tflite").read_bytes())
    op = next(o for o in g.ops if o.kind == "MEAN")
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    scale, zp = (x.q_scale, x.q_zero_point) if same else (y.q_scale, y.q_zero_point)
    if same:
        q = g.model.subgraphs[0].tensors[op.outputs[0]].quantization
        q.scale, q.zeroPoint = np.array([scale], np.float32), np.array([zp], np.int64)
    it = runtime.Interpreter.from_bytes(one_op_model(g, op))
    (_, steps, ch), n = x.shape, 40
    xs = np.random.default_rng(5).integers(-128, 128, size=(n, 1, steps, ch)).astype(np.int8)
    want = []
    for v in xs:
        it.set_input(v, 0)
        it.invoke()
        want.append(np.asarray(it.get_output(0)).reshape(-1))
    p = mean_params(x.q_scale, x.q_zero_point, scale, zp, steps)
    main = tmp_path / "main.c"
    main.write_text('#include <stdio.h>\n#include "edgelstm.h"\n'
                    f"static const int8_t xs[{xs.size}] = {{{', '.join(map(str, xs.reshape(-1)))}}};\n"
                    "int main(void)\n{\n"
                    f"    const el_mean_s8_t p = {{ 1, {steps}, {ch}, {p['input_zero_point']}, {p['multiplier']}, "
                    f"{p['shift']}, {p['output_offset']} }};\n"
                    f"    int8_t y[{ch}];\n    for (int k = 0; k < {n}; ++k) {{\n"
                    f"        el_mean_s8(&p, xs + k * {steps * ch}, y);\n"
                    f"        for (int c = 0; c < {ch}; ++c) printf(\"%d \", y[c]);\n    }}\n    return 0;\n}}\n")
    exe = tmp_path / "mean"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{RUNTIME / 'include'}", str(main),
                    str(RUNTIME / "src" / "mean_s8.c"), "-o", str(exe)], check=True)
    got = np.array(subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split(), np.int64)
    want = np.concatenate(want).astype(np.int64)
    assert got.shape == want.shape == (n * ch,) and np.array_equal(got, want), int((got != want).sum())
    if same:  # the truncated plain mean differs from TFLite Micro on these inputs
        plain = np.trunc(xs.reshape(n, steps, ch).astype(np.int64).sum(axis=1) / steps).astype(np.int64).reshape(-1)
        assert not np.array_equal(plain, want)
