"""Attention pooling (issue 12): the functional-API block Dense score -> Softmax over time -> Dot(axes=1)
(or Multiply -> GlobalAveragePooling1D) is read as one layer, converts (fused LSTM: FULLY_CONNECTED,
SOFTMAX, BATCH_MATMUL; lowered GRU graphs: per-step scores, CONCATENATION in groups TFLite Micro takes,
BATCH_MATMUL), and exports bit-exact with TFLite Micro on the host and on QEMU.

Models are built here with fixed seeds and random weights; bit-exactness needs no training (the
trained table model's held-out accuracy is measured by make bench)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import check_more_vectors, export_all, keras_models, run_cli

T, F, U = 14, 3, 8  # 14 steps: the lowered graph's concatenations exceed TFLite Micro's 10 inputs


def _build(kind: str):
    import keras

    L = keras.layers
    keras.utils.set_random_seed(21)
    inp = keras.Input((T, F))
    if kind == "lstm_dot":  # the model: LSTM -> Dense(1) -> Softmax over time -> weighted sum -> Dense
        h = L.LSTM(U, return_sequences=True)(inp)
        a = L.Reshape((T, 1))(L.Softmax()(L.Flatten()(L.Dense(1)(h))))
        y = L.Dense(4, activation="softmax")(L.Flatten()(L.Dot(axes=1)([a, h])))
    elif kind == "gru_mlp_dot":  # a two-layer score (Dense tanh -> Dense(1)), softmax on (T, 1) over axis 1
        h = L.GRU(U, return_sequences=True)(inp)
        a = L.Softmax(axis=1)(L.Dense(1)(L.Dense(4, activation="tanh")(h)))
        y = L.Dense(3)(L.Flatten()(L.Dot(axes=1)([a, h])))
    elif kind == "lstm_mul_gap":  # Multiply (broadcast over units) then GlobalAveragePooling1D: the mean
        h = L.LSTM(U, return_sequences=True)(inp)
        a = L.Softmax(axis=1)(L.Dense(1)(h))
        y = L.Dense(3)(L.GlobalAveragePooling1D()(L.Multiply()([h, a])))
    else:
        raise KeyError(kind)
    m = keras.Model(inp, y)
    x = np.random.default_rng(4).normal(size=(24, T, F)).astype(np.float32)
    return m, x


EXPORTS = {"lstm_dot": ("lstm_dot", "int8"), "gru_mlp_dot": ("gru_mlp_dot", "int8"),
           "lstm_mul_gap_f32": ("lstm_mul_gap", "float32")}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    return keras_models(tmp_path_factory, "attention_models", ("lstm_dot", "gru_mlp_dot", "lstm_mul_gap"), _build)


@pytest.fixture(scope="module")
def exports(models, tmp_path_factory) -> dict[str, Path]:
    return export_all(tmp_path_factory, "attention_exports", EXPORTS, models)


def test_the_block_is_read_as_one_attention_layer(models):
    for kind, mean, score in (("lstm_dot", False, [(1, "linear")]), ("gru_mlp_dot", False, [(4, "tanh"), (1, "linear")]),
                              ("lstm_mul_gap", True, [(1, "linear")])):
        desc = models[kind][0].desc  # loading checked edgelstm's numpy forward pass against Keras
        types = [l.type for l in desc.layers]
        assert types == ["recurrent", "attention", "dense"], types
        att = desc.layers[1]
        assert att.mean is mean and [(d.units, d.activation) for d in att.score] == score
        assert att.input_size == att.output_size == U and not desc.output_is_sequence
        assert not desc.streamable and "attention pooling" in desc.stream_blocker


def test_a_tf_keras_functional_attention_model_loads(tmp_path):
    import tf_keras as K

    from edgelstm.load import load_model

    inp = K.Input((T, F))
    h = K.layers.GRU(U, return_sequences=True)(inp)
    a = K.layers.Softmax(axis=1)(K.layers.Dense(1)(h))
    K.Model(inp, K.layers.Dense(2)(K.layers.Flatten()(K.layers.Dot(axes=1)([a, h])))).save(tmp_path / "att.h5")
    desc = load_model(tmp_path / "att.h5").desc  # the load check compares with tf_keras' own output
    assert desc.keras_flavour == "tf_keras" and [l.type for l in desc.layers] == ["recurrent", "attention", "dense"]


def test_attention_counts_closed_form(models):
    from edgelstm.profile.counts import count_model

    desc = models["gru_mlp_dot"][0].desc
    c = count_model(desc, "int8")
    gru = T * 3 * U * (F + U)
    att = T * (U * 4 + 4 * 1) + T * U  # the score MLP per step, then the weighted sum
    assert [l["macs"] for l in c["layers"]] == [gru, att, U * 3]
    assert c["layers"][1]["elementwise"]["softmax"] == T and c["layers"][1]["elementwise"]["tanh"] == T * 4


@pytest.mark.parametrize("name", list(EXPORTS))
def test_attention_export_is_bit_exact_with_tflm(name, exports, tmp_path):
    d = exports[name]
    info = json.loads((d / "export.json").read_text())
    assert info["ops"].get("BATCH_MATMUL") == 1 and info["ops"].get("SOFTMAX", 0) >= 1
    kernels = {k["kernel"] for k in info["kernels"]}
    assert ("batch_matmul_f32" if name.endswith("f32") else "batch_matmul_s8") in kernels
    if name == "gru_mlp_dot":  # lowered graph: T per-step scores and T sequence rows joined in groups of <= 10
        from edgelstm.export.graph import read_graph

        g = read_graph((d / "hx.tflite").read_bytes())
        widths = [len(o.inputs) for o in g.ops if o.kind == "CONCATENATION"]
        assert widths and max(widths) <= 10 and sum(w for w in widths if w > 2) >= 2 * T - 4, widths
    assert [(r["mode"], r["mismatches"]) for r in info["host_check"]] == [("run", 0)]
    check_more_vectors(d, info, tmp_path, seed=21)


def test_attention_on_qemu_cortex_m4_is_bit_exact(exports):
    d = exports["lstm_dot"]
    r = json.loads(run_cli("run", str(d), "--target", "cortex-m4", "--vectors", "8", "--json").stdout)
    assert r["mismatches"] == 0 and r["outputs_compared"] == 8 * 4
    assert "batch_matmul_s8" in r["flash_bytes"]["kernels"]
    # LSTM (T x 4 gates x U x (F + U)), scores (T x U), weighted sum (T x U), head (U x 4)
    assert r["macs_per_inference"] == T * 4 * U * (F + U) + 2 * T * U + U * 4


def test_stateful_attention_is_refused(models, tmp_path):
    from edgelstm.convert import rules
    from edgelstm.errors import UnsupportedCombination

    with pytest.raises(UnsupportedCombination) as e:
        rules.check(models["lstm_dot"][0].desc, "tflite", "stateful", "int8")
    assert "attention pooling" in str(e.value) and "--variant sequence" in str(e.value)


def _functional(kind: str):
    import keras

    L = keras.layers
    inp = keras.Input((T, F))
    h = L.LSTM(U, return_sequences=True)(inp)
    if kind == "softmax_over_features":
        a = L.Softmax(axis=-1)(L.Dense(U)(h))  # weighs features, not timesteps
        y = L.GlobalAveragePooling1D()(L.Multiply()([h, a]))
    elif kind == "multiply_without_sum":
        a = L.Softmax(axis=1)(L.Dense(1)(h))
        y = L.Flatten()(L.Multiply()([h, a]))
    elif kind == "residual_add":
        y = L.LSTM(U)(L.Add()([h, L.Dense(U)(h)]))
    else:
        raise KeyError(kind)
    return keras.Model(inp, y)


@pytest.mark.parametrize("kind, words", [
    ("softmax_over_features", ["softmax over axis -1", "weighs timesteps"]),
    ("multiply_without_sum", ["Multiply", "GlobalAveragePooling1D", "Dot(axes=1)"]),
    ("residual_add", ["feeds 2 layers", "attention pooling"]),
])
def test_other_branching_graphs_are_a_clear_error(kind, words, tmp_path):
    path = tmp_path / f"{kind}.keras"
    _functional(kind).save(path)
    r = run_cli("profile", str(path), check=False)
    assert r.returncode != 0
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("error:") and all(w in line for w in words), line
