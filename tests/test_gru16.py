"""Issue 12: a relu GRU in an int8 model keeps its activations in int16 (convert.gru16).

All-int8, relu GRUs lose whole series (the JapaneseVowels table model: -8.9 points on 370 test series,
tests/test_table_accuracy.py holds it to 2). The pass widens every activation of such a GRU to int16 in the
converted .tflite; here: which tensors and ops it changes in the sequence and step graphs (and that it leaves
tanh GRUs, hard_sigmoid gates and ``--lstm-cell int8`` alone), that the step graph still equals the sequence
graph byte for byte, and that the C export (fc_s16, sigmoid_s16 and the int16 elementwise kernels) is bit-exact
with TFLite Micro in run and step, also on the backward direction of a Bidirectional GRU.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import keras_models
from edgelstm.convert.gru16 import relu_gru_tags
from edgelstm.export.graph import read_graph

T, F = 12, 4


def _build(kind: str):
    import keras

    keras.utils.set_random_seed(5)
    L = keras.layers
    rnn = {"relu": lambda: L.GRU(10, activation="relu"),
           "tanh": lambda: L.GRU(10),
           "relu_hard": lambda: L.GRU(10, activation="relu", recurrent_activation="hard_sigmoid"),
           "bi_relu": lambda: L.Bidirectional(L.GRU(6, activation="relu"))}[kind]()
    m = keras.Sequential([keras.Input((T, F)), rnn, L.Dense(3, activation="softmax")])
    # larger recurrent weights than the initializer's (h grows past 1, where relu differs from tanh) and nonzero
    # biases (a trained GRU's: the folded first step then holds nonzero constants)
    weights = m.get_weights()
    rng = np.random.default_rng(7)
    weights[1] = weights[1] * 2.5
    weights[2] = rng.normal(0, 0.5, weights[2].shape).astype(np.float32)
    if kind == "bi_relu":
        weights[4] = weights[4] * 2.5
        weights[5] = rng.normal(0, 0.5, weights[5].shape).astype(np.float32)
    m.set_weights(weights)
    x = np.random.default_rng(0).normal(size=(32, T, F)).astype(np.float32)
    return m, x


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return keras_models(tmp_path_factory, "gru16", ("relu", "tanh", "relu_hard", "bi_relu"), _build)


@pytest.fixture(scope="module")
def converted(models, tmp_path_factory):
    """int8 sequence + stateful of the relu GRU, with the default int16 paths and with --lstm-cell int8."""
    from edgelstm.convert.api import convert

    model, calib = models["relu"]
    d = tmp_path_factory.mktemp("gru16_convert")
    return {cell: convert(model, d / cell, ("tflite",), ("sequence", "stateful"), ("int8",), calib=calib,
                          lstm_cell=cell) for cell in ("int16", "int8")}


def _graph(manifest, variant: str):
    return read_graph(Path(manifest.get("tflite", variant, "int8")["path"]).read_bytes())


def test_only_relu_grus_with_sigmoid_gates_are_widened(models):
    from edgelstm.profile.counts import count_model

    assert relu_gru_tags(models["relu"][0].desc) == ["l0"]
    gru = count_model(models["relu"][0].desc, "int8")["layers"][0]  # the profile counts 16x8 storage for it
    assert gru["storage"]["bias_bytes"] == 8 * gru["storage"]["biases"] and gru["state_bytes"] == 2 * 10
    assert relu_gru_tags(models["bi_relu"][0].desc) == ["l0f", "l0b"]
    assert relu_gru_tags(models["tanh"][0].desc) == []
    assert relu_gru_tags(models["relu_hard"][0].desc) == []


@pytest.mark.parametrize("variant", ["sequence", "stateful"])
def test_the_relu_gru_runs_in_int16_inside_an_int8_graph(converted, variant):
    g = _graph(converted["int16"], variant)
    gru = [t for t in g.tensors if t.name.startswith("l0.") and not t.is_const and t.dtype != "int32"
           and not t.name.endswith((".q8", ".q16"))]
    assert gru and {t.dtype for t in gru} == {"int16"}, sorted({(t.name, t.dtype) for t in gru})
    assert all(t.q_zero_point == 0 for t in gru)
    assert all(t.q_scale == 2.0 ** -15 for t in gru if t.name.endswith((".update.act", ".reset.act")))
    assert g.t(g.inputs[0]).dtype == "int8" and g.t(g.outputs[0]).dtype == "int8"
    kinds = {(op.kind, g.t(op.outputs[0]).dtype) for op in g.ops}
    assert {("FULLY_CONNECTED", "int16"), ("LOGISTIC", "int16"), ("ADD", "int16"), ("SUB", "int16"),
            ("MUL", "int16"), ("QUANTIZE", "int16"), ("QUANTIZE", "int8"), ("FULLY_CONNECTED", "int8")} <= kinds
    for op in g.ops:
        if op.kind == "FULLY_CONNECTED" and g.t(op.outputs[0]).dtype == "int16":
            assert g.t(op.inputs[0]).dtype == "int16" and g.t(op.inputs[1]).dtype == "int8"
            assert op.inputs[2] < 0 or g.t(op.inputs[2]).dtype == "int64"
    if variant == "stateful":  # the state h is int16 in and out, with one scale
        h_in, h_out = g.t(g.inputs[1]), g.t(g.outputs[1])
        assert h_in.dtype == h_out.dtype == "int16" and h_in.q_scale == h_out.q_scale


def _with_outputs(tflite: bytes, names: list[str]) -> bytes:
    """The model with the tensors ``names`` appended to its outputs (to read them from TFLite Micro)."""
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    m = fbu.read_model_from_bytearray(bytearray(tflite))
    sg = m.subgraphs[0]
    index = {(t.name or b"").decode(): k for k, t in enumerate(sg.tensors)}
    sg.outputs = np.concatenate([sg.outputs, np.array([index[n] for n in names], np.int32)])
    return bytes(fbu.convert_object_to_bytearray(m))


def test_the_sequence_graph_is_the_step_graph_stepped_from_zero_in_int16(converted, models):
    """Every int16 state h@t of the sequence graph equals the step graph's state output after step t, in TFLite
    Micro, on random and extreme inputs. (Step 0 is where they can part: the converter folds the zero state
    into constants there; an int16 constant rounded from its int8 fold, or a zero on another scale, changed a
    later output of a BasicMotions test series.)"""
    from tflite_micro import runtime

    seq = Path(converted["int16"].get("tflite", "sequence", "int8")["path"]).read_bytes()
    step = Path(converted["int16"].get("tflite", "stateful", "int8")["path"]).read_bytes()
    g = read_graph(seq)
    h_names = [f"l0.h@{t}" for t in range(T)]
    assert all(any(x.name == n and x.dtype == "int16" for x in g.tensors) for n in h_names)
    seq_it = runtime.Interpreter.from_bytes(_with_outputs(seq, h_names))
    step_it = runtime.Interpreter.from_bytes(step)
    rng = np.random.default_rng(1)
    xs = [rng.integers(-128, 128, (T, F)) for _ in range(12)] + [np.full((T, F), v) for v in (-128, 127)]
    xs += [np.where(rng.random((T, F)) < 0.5, -128, 127) for _ in range(4)]
    compared = 0
    for x in (v.astype(np.int8) for v in xs):
        seq_it.reset()
        seq_it.set_input(x[None], 0)
        seq_it.invoke()
        step_it.reset()
        h = np.zeros((1, 10), np.int16)
        for t in range(T):
            step_it.set_input(x[t][None], 0)
            step_it.set_input(h, 1)
            step_it.invoke()
            h = np.asarray(step_it.get_output(1)).reshape(1, 10)
            assert np.array_equal(h.ravel(), np.asarray(seq_it.get_output(1 + t)).ravel()), (t, x.tolist())
            compared += int(np.count_nonzero(h))
    assert compared > 100  # the states are not all zero


def test_lstm_cell_int8_keeps_the_gru_all_int8_and_widening_costs_no_accuracy(converted):
    for variant in ("sequence", "stateful"):
        assert {t.dtype for t in _graph(converted["int8"], variant).tensors} <= {"int8", "int32"}
    wide = {a["variant"]: a for a in converted["int16"].artifacts}
    assert wide["stateful"]["metrics"]["vs_sequence_max_abs"] == 0.0  # the step graph is the sequence graph
    narrow = {a["variant"]: a for a in converted["int8"].artifacts}
    err = {k: max(m["tflm"]["max_abs_error"], m["litert"]["max_abs_error"])
           for k, m in (("int16", wide["sequence"]["metrics"]), ("int8", narrow["sequence"]["metrics"]))}
    assert err["int16"] < err["int8"], err


def test_a_relu_gru_with_hard_sigmoid_gates_stays_int8(models, tmp_path):
    """(a tanh GRU never reaches the pass: relu_gru_tags is empty, checked above)"""
    from edgelstm.convert.api import convert

    model, calib = models["relu_hard"]
    man = convert(model, tmp_path / "relu_hard", ("tflite",), ("sequence",), ("int8",), calib=calib)
    assert {t.dtype for t in _graph(man, "sequence").tensors} <= {"int8", "int32"}


@pytest.mark.parametrize("kind,modes", [("relu", {"run", "step"}), ("bi_relu", {"run"})])
def test_int16_gru_export_is_bit_exact_with_tflm(models, tmp_path, kind, modes):
    from edgelstm.export.api import export

    model, calib = models[kind]
    info = export(model, tmp_path / kind, quant="int8", calib=calib, force=True)
    assert {r["mode"] for r in info["host_check"]} == modes
    for r in info["host_check"]:
        assert r["mismatches"] == 0 and r["elements"] > 0, r
    runtime = {Path(f).stem for f in info["files"]["runtime"]}
    assert {"fc_s16", "sigmoid_s16", "add_s16", "sub_s16", "mul_s16", "requantize_s8_s16",
            "requantize_s16_s8"} <= runtime, runtime
    assert json.loads((tmp_path / kind / "export.json").read_text())["host_check"] == info["host_check"]
