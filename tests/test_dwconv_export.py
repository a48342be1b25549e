"""DepthwiseConv1D and SeparableConv1D (issue 12) through every stage: load (the numpy forward equals
Keras for valid/same/strided/dilated windows, depth multipliers, BatchNormalization/ReLU folded), the
C export (DEPTHWISE_CONV_2D as el_dwconv_s8 / el_dwconv_f32, the pointwise half as CONV_2D; every output
integer equals TFLite Micro's) and the lowered GRU graph (the depthwise taps as one FULLY_CONNECTED over
the window with a block-diagonal kernel), and clear errors for options edgelstm does not model.

The Keras models are built here with fixed seeds and random weights and exported through the API, two
at a time, as tests/test_conv_export.py does."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import check_more_vectors, export_all, keras_models

T, F = 20, 3  # window and features of every model here


def _layers(kind: str) -> list:
    import keras

    L = keras.layers
    return {
        # the CNN front end of issue 12: 20 -> 10 steps (same, stride 2, 3 x 2 channels), separable 10 -> 8 steps
        "dw_lstm": [L.DepthwiseConv1D(3, depth_multiplier=2, padding="same", strides=2),
                    L.SeparableConv1D(8, 3, activation="relu"), L.MaxPooling1D(2), L.LSTM(8),
                    L.Dense(3, activation="softmax")],
        # a GRU model is lowered: the dilated depthwise taps become per-step FULLY_CONNECTED over
        # CONCATENATIONs (zero padding at both ends) with a block-diagonal kernel; BatchNormalization and
        # ReLU fold into the depthwise layer
        "dw_gru": [L.DepthwiseConv1D(3, dilation_rate=2, padding="same", depth_multiplier=2), L.BatchNormalization(),
                   L.ReLU(), L.MaxPooling1D(2), L.GRU(8), L.Dense(3, activation="softmax")],
    }[kind]


def _build(kind: str, layers: list | None = None, seed: int = 12):
    """A Keras 3 model over (T, F) with random weights and biases, and 24 random inputs."""
    import keras

    keras.utils.set_random_seed(seed)
    m = keras.Sequential([keras.Input((T, F)), *(layers if layers is not None else _layers(kind))])
    x = np.random.default_rng(3).normal(size=(24, T, F)).astype(np.float32)
    m(x[:2])
    rng = np.random.default_rng(seed)
    for layer in m.layers:
        w = layer.get_weights()
        if type(layer).__name__ == "BatchNormalization":  # a non-trivial folded BatchNormalization
            g, b, mu, v = w
            layer.set_weights([g * 1.5, b + 0.1, mu + 0.2, v * 2])
        elif w:  # random biases too (Keras starts them at zero), so every weight matters
            layer.set_weights([a + rng.normal(0, 0.1, a.shape).astype(a.dtype) if a.ndim == 1 else a for a in w])
    return m, x


EXPORTS = {  # name: (model, quant)
    "dw_lstm": ("dw_lstm", "int8"),
    "dw_lstm_f32": ("dw_lstm", "float32"),
    "dw_gru": ("dw_gru", "int8"),
}


@pytest.fixture(scope="module")
def dw_models(tmp_path_factory) -> dict:
    """kind -> (LoadedModel, calibration Dataset), from .keras files as a user has them."""
    return keras_models(tmp_path_factory, "dw_models", sorted({m for m, _ in EXPORTS.values()}), _build)


@pytest.fixture(scope="module")
def dw_exports(dw_models, tmp_path_factory) -> dict[str, Path]:
    return export_all(tmp_path_factory, "dw_exports", EXPORTS, dw_models)


# ops of the C graph and runtime kernels each export must use (what the test is about)
WANT = {
    "dw_lstm": ({"DEPTHWISE_CONV_2D": 2, "CONV_2D": 1, "MAX_POOL_2D": 1, "UNIDIRECTIONAL_SEQUENCE_LSTM": 1},
                {"dwconv_s8", "conv_s8", "maxpool_s8"}),
    "dw_lstm_f32": ({"DEPTHWISE_CONV_2D": 2, "CONV_2D": 1, "MAX_POOL_2D": 1, "UNIDIRECTIONAL_SEQUENCE_LSTM": 1},
                    {"dwconv_f32", "conv_f32", "maxpool_f32"}),
    "dw_gru": ({"CONCATENATION": T, "MAXIMUM": T // 2}, {"fc_s8", "maximum_s8"}),
}


@pytest.mark.parametrize("name", list(EXPORTS))
def test_depthwise_front_end_export_is_bit_exact_with_tflm(name, dw_exports, tmp_path):
    d = dw_exports[name]
    info = json.loads((d / "export.json").read_text())
    ops, kernels = WANT[name]
    for op, n in ops.items():
        assert info["ops"].get(op) == n, (op, info["ops"])
    assert kernels <= {k["kernel"] for k in info["kernels"]}
    assert "DEPTHWISE_CONV_2D" in info["ops"] or name == "dw_gru"
    # the export's own check against TFLite Micro
    assert [(r["mode"], r["mismatches"]) for r in info["host_check"]] == [("run", 0)]
    check_more_vectors(d, info, tmp_path, seed=12)


def test_depthwise_c_parameters_and_no_streaming(dw_exports):
    """The generated parameters carry the 1D geometry, and the model runs over the whole window only."""
    d = dw_exports["dw_lstm"]
    info = json.loads((d / "export.json").read_text())
    assert info["api"]["streaming"] is False and "Conv1D/pooling" in info["c_graph"]
    src = "\n".join(p.read_text() for p in d.glob("*.c"))
    assert "static const el_dwconv_s8_t" in src
    # the first depthwise layer: 20 steps x 3 -> 10 x 6 (same, stride 2: the last window pads 1 step after)
    assert ".in_len = 20," in src and ".depth_multiplier = 2," in src and ".stride = 2," in src
    assert "el_dwconv_s8(&" in src
    # depthwise (10 steps x 3 taps less 1 padded) x 3 x 2, separable depthwise (8 steps x 3 taps) x 6, its
    # pointwise 8 x 6 x 8, LSTM (4 steps x 4 gates x 8 x (8 + 8)), Dense 8 x 3
    assert info["macs"]["per_run"] == 29 * 3 * 2 + 8 * 3 * 6 + 8 * 6 * 8 + 4 * 4 * 8 * 16 + 8 * 3


def test_load_matches_keras_for_depthwise_and_separable(tmp_path):
    """edgelstm's numpy forward reproduces Keras (load_model checks it) over valid, same, strided and dilated
    windows, depth multipliers, no bias, and BatchNormalization/ReLU folded into the convolution."""
    import keras

    from edgelstm.load import load_model

    L = keras.layers
    cases = {
        "valid": ([L.DepthwiseConv1D(4, use_bias=False), L.LSTM(4)], ["dwconv1d", "recurrent"]),
        "same_stride": ([L.DepthwiseConv1D(3, depth_multiplier=3, strides=3, padding="same", activation="relu"),
                         L.LSTM(4)], ["dwconv1d", "recurrent"]),
        "dilated": ([L.DepthwiseConv1D(3, dilation_rate=3, padding="same"), L.BatchNormalization(), L.ReLU(),
                     L.GRU(4)], ["dwconv1d", "recurrent"]),
        "separable": ([L.SeparableConv1D(5, 3, depth_multiplier=2, dilation_rate=2, padding="same"),
                       L.BatchNormalization(), L.Activation("relu"), L.LSTM(4)], ["dwconv1d", "conv1d", "recurrent"]),
        "separable_valid": ([L.SeparableConv1D(4, 2, strides=2, use_bias=False), L.AveragePooling1D(2), L.LSTM(4)],
                            ["dwconv1d", "conv1d", "pool1d", "recurrent"]),
    }
    for name, (layers, types) in cases.items():
        m, _ = _build(name, layers, seed=5)
        m.save(tmp_path / f"{name}.keras")
        desc = load_model(tmp_path / f"{name}.keras").desc  # raises if the forward differs from Keras
        assert [l.type for l in desc.layers] == types, name
        dw = desc.layers[0]
        cfg = m.layers[0].get_config()
        assert (dw.kernel_size, dw.strides, dw.dilation, dw.padding, dw.depth_multiplier) == (
            cfg["kernel_size"][0], cfg["strides"][0], cfg["dilation_rate"][0], cfg["padding"], cfg["depth_multiplier"])
        if name.startswith("separable"):  # depthwise (linear, no bias) then the pointwise Conv1D of kernel 1
            pw = desc.layers[1]
            assert (dw.activation, float(np.abs(dw.bias).max())) == ("linear", 0.0)
            assert (pw.kernel_size, pw.input_size, pw.filters) == (1, F * cfg["depth_multiplier"], cfg["filters"])
    # the folded ReLU became the depthwise layer's activation
    assert load_model(tmp_path / "dilated.keras").desc.layers[0].activation == "relu"


@pytest.mark.parametrize("layer,message", [
    ("channels_first", "is channels_first; use channels_last"),
    ("tanh", "has activation 'tanh'; supported: linear, relu"),
    ("strided_dilated", "has strides 2 and dilation 2; edgelstm supports only one of them above 1"),
])
def test_unsupported_depthwise_options_are_one_line_errors(layer, message, tmp_path):
    import keras

    from edgelstm.errors import ModelError
    from edgelstm.load import load_model

    L = keras.layers
    layers = {
        "channels_first": [L.DepthwiseConv1D(3, data_format="channels_first"), L.LSTM(4)],
        "tanh": [L.SeparableConv1D(4, 3, activation="tanh"), L.LSTM(4)],
        "strided_dilated": [L.DepthwiseConv1D(3, strides=2, dilation_rate=2), L.LSTM(4)],  # Keras 3 runs it
    }[layer]
    m = keras.Sequential([keras.Input((T, F)), *layers])
    m.save(tmp_path / "bad.keras")
    with pytest.raises(ModelError) as e:
        load_model(tmp_path / "bad.keras")
    text = str(e.value)
    assert message in text and "\n" not in text, text
    assert "(DepthwiseConv1D)" in text or "(SeparableConv1D)" in text
