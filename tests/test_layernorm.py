"""LayerNormalization after a recurrent layer (issue 12): read as one per-timestep layer (axis=-1), lowered
broadcast-free (FULLY_CONNECTED by 1/U for the means, SUB, MUL, RSQRT, MUL/ADD for gamma/beta), converted
through the tf_keras clone (fused LSTM) and the lowered graph (GRU), and exported bit-exact with TFLite Micro
(RSQRT int8: a table TFLite Micro fills; float32: rsqrt_f32).

Models are built here with fixed seeds and random weights (random gamma/beta too); bit-exactness needs no
training."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import check_more_vectors, export_all, keras_models

T, F, U = 10, 3, 16


def _build(kind: str):
    import keras

    L = keras.layers
    keras.utils.set_random_seed(5)
    inp = keras.Input((T, F))
    if kind == "lstm":  # the model: LSTM -> LayerNormalization -> LSTM -> Dense
        y = L.Dense(4)(L.LSTM(U)(L.LayerNormalization()(L.LSTM(U, return_sequences=True)(inp))))
    elif kind == "gru":  # GRU -> LayerNormalization (no center, epsilon 1e-2) -> Dense
        y = L.Dense(4)(L.LayerNormalization(epsilon=1e-2, center=False)(L.GRU(U)(inp)))
    else:
        raise KeyError(kind)
    m = keras.Model(inp, y)
    rng = np.random.default_rng(1)
    for layer in m.layers:
        if type(layer).__name__ == "LayerNormalization":  # gamma around 1, beta around 0: not the defaults
            layer.set_weights([rng.normal(1.0 if k == 0 and layer.scale else 0.0, 0.5, w.shape).astype(np.float32)
                               for k, w in enumerate(layer.get_weights())])
    x = np.random.default_rng(4).normal(size=(32, T, F)).astype(np.float32)
    return m, x


EXPORTS = {"lstm": ("lstm", "int8"), "gru": ("gru", "int8"), "lstm_f32": ("lstm", "float32")}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    return keras_models(tmp_path_factory, "layernorm_models", ("lstm", "gru"), _build)


@pytest.fixture(scope="module")
def exports(models, tmp_path_factory) -> dict[str, Path]:
    return export_all(tmp_path_factory, "layernorm_exports", EXPORTS, models)


def test_layernorm_is_read_and_matches_keras(models):
    lstm = models["lstm"][0].desc  # loading checked edgelstm's numpy forward pass against Keras
    assert [l.type for l in lstm.layers] == ["recurrent", "layernorm", "recurrent", "dense"]
    ln = lstm.layers[1]
    assert ln.input_size == ln.output_size == U and ln.scale and ln.center and ln.epsilon == pytest.approx(1e-3)
    assert not np.allclose(ln.gamma, 1.0) and not np.allclose(ln.beta, 0.0)
    gru = models["gru"][0].desc
    assert [l.type for l in gru.layers] == ["recurrent", "layernorm", "dense"]
    ln = gru.layers[1]
    assert ln.scale and not ln.center and np.all(ln.beta == 0) and ln.epsilon == pytest.approx(1e-2)
    assert lstm.streamable and gru.streamable  # per timestep: no state, no window


def test_layernorm_forward_is_keras_formula(models):
    from edgelstm.layers import kind_of

    ln = models["lstm"][0].desc.layers[1]
    x = np.random.default_rng(3).normal(size=(T, U)) * 3 + 1
    y, is_seq = kind_of(ln).forward(ln, x, True)
    want = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + ln.epsilon) * ln.gamma + ln.beta
    assert is_seq and np.allclose(y, want, atol=1e-12)


def test_layernorm_counts_closed_form(models):
    from edgelstm.profile.counts import count_model

    c = count_model(models["lstm"][0].desc, "int8")
    ln = c["layers"][1]
    assert ln["macs"] == 0 and ln["calls"] == T
    ew = ln["elementwise"]
    # per step: two means (U adds each) + beta (U adds); U subs; square, normalize, gamma (U muls each); one rsqrt
    assert (ew["add"], ew["sub"], ew["mul"], ew["rsqrt"]) == (T * 3 * U, T * U, T * 3 * U, T)
    assert ln["storage"]["weights"] == 2 * U
    g = count_model(models["gru"][0].desc, "int8")["layers"][1]
    assert g["calls"] == 1 and g["elementwise"]["add"] == 2 * U and g["storage"]["weights"] == U  # no beta


@pytest.mark.parametrize("name", list(EXPORTS))
def test_layernorm_export_is_bit_exact_with_tflm(name, exports, tmp_path):
    d = exports[name]
    info = json.loads((d / "export.json").read_text())
    assert info["ops"].get("RSQRT") == 1
    kernels = {k["kernel"] for k in info["kernels"]}
    assert ("rsqrt_f32" if name.endswith("f32") else "lut_s8") in kernels
    assert [(r["mode"], r["mismatches"]) for r in info["host_check"]] == [("run", 0), ("step", 0)]
    constant = np.stack([np.full((T, F), -128, np.int8), np.full((T, F), 127, np.int8)])  # zero variance
    check_more_vectors(d, info, tmp_path, seed=21, extra=constant)


def _unsupported(kind: str):
    import keras

    L = keras.layers
    inp = keras.Input((T, F))
    h = L.LSTM(8, return_sequences=True)(inp)
    h = L.LayerNormalization(axis=1)(h) if kind == "axis1" else L.LayerNormalization(rms_scaling=True)(h)
    return keras.Model(inp, L.Dense(2)(L.LSTM(8)(h)))


@pytest.mark.parametrize("kind, words", [
    ("axis1", ["LayerNormalization", "axis [1]", "axis=-1"]),
    ("rms", ["LayerNormalization", "rms_scaling=True", "rms_scaling=False"]),
])
def test_unsupported_layernorm_is_a_clear_error(kind, words, tmp_path):
    from edgelstm.errors import ModelError
    from edgelstm.load import load_model

    path = tmp_path / f"{kind}.keras"
    _unsupported(kind).save(path)
    with pytest.raises(ModelError) as e:  # in process: the CLI's "error: <message>" line is this message
        load_model(path)
    line = str(e.value)
    assert "\n" not in line and all(w in line for w in words), line
