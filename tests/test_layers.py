"""Issue 12: layer kinds (edgelstm/layers): SimpleRNN and go_backwards through every stage, and the registry."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from edgelstm import layers, reference
from edgelstm.load import load_model
from edgelstm.profile.counts import count_model


def _keras_model(tmp_path: Path, name: str, build) -> Path:
    import keras

    keras.utils.set_random_seed(3)
    model = build(keras)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    return path


def _data(tmp_path: Path, shape: tuple[int, int, int]) -> Path:
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=shape).astype(np.float32))
    return tmp_path / "x.npy"


def _check(export_dir: Path) -> list[dict]:
    info = json.loads((export_dir / "export.json").read_text())
    assert info["host_check"], info
    for r in info["host_check"]:
        assert r["mismatches"] == 0, r
    return info["host_check"]


def test_registry_rejects_a_second_kind_for_a_type():
    class Twin:
        type = "dense"
        keras_classes = ("NotAKerasLayer",)

    with pytest.raises(RuntimeError, match="two layer kinds"):
        layers.register(Twin())  # type: ignore[arg-type]
    assert {"LSTM", "GRU", "SimpleRNN", "Bidirectional", "Dense", "TimeDistributed"} <= set(layers.keras_classes())


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_simple_rnn_converts_streams_exports_bit_exact(tmp_path, activation):
    path = _keras_model(tmp_path, f"rnn_{activation}", lambda K: K.Sequential(
        [K.Input((12, 4)), K.layers.SimpleRNN(10, activation=activation), K.layers.Dense(3, activation="softmax")]))
    x = _data(tmp_path, (24, 12, 4))
    m = load_model(path)
    np.testing.assert_allclose(reference.forward(m.desc, np.load(x)[:4]), m.predict(np.load(x)[:4]), atol=2e-6)
    if activation == "tanh":  # the TFLite variants; a tanh state keeps TANH's int8 scale in and out
        out = tmp_path / "out"
        run_cli("convert", str(path), "--calib", str(x), "--quant", "int8", "--variant", "sequence,stateful",
                "-o", str(out))
        man = json.loads((out / "manifest.json").read_text())
        for a in man["artifacts"]:
            assert a["verdict"]["status"] == "ok", (a["path"], a["verdict"])
        stateful = next(a for a in man["artifacts"] if a["variant"] == "stateful")
        assert stateful["metrics"]["vs_sequence_max_abs"] == 0.0  # state fed back byte for byte
    exp = tmp_path / "export"
    run_cli("export", str(path), "--calib", str(x), "-o", str(exp))
    assert {r["mode"] for r in _check(exp)} == {"run", "step"}
    assert json.loads((exp / "export.json").read_text())["verdict"]["status"] == "ok"


def test_simple_rnn_counts_closed_form():
    m = load_model("rnn:10,dense:3@12/4")
    c = count_model(m.desc)["layers"][0]
    assert c["macs_per_step"] == 10 * (4 + 10) and c["macs"] == 12 * 10 * 14
    assert c["elementwise_per_step"]["tanh"] == 10 and c["elementwise_per_step"]["gate_add"] == 10


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_go_backwards_exports_bit_exact_and_refuses_to_stream(tmp_path, cell):
    path = _keras_model(tmp_path, f"gb_{cell}", lambda K: K.Sequential(
        [K.Input((12, 4)), getattr(K.layers, cell)(8, go_backwards=True), K.layers.Dense(3)]))
    x = _data(tmp_path, (16, 12, 4))
    assert not load_model(path).desc.streamable
    exp = tmp_path / "export"
    run_cli("export", str(path), "--calib", str(x), "-o", str(exp))
    assert [r["mode"] for r in _check(exp)] == ["run"]  # was 140 of 162 outputs wrong: the step graph streamed forward
    proc = run_cli("convert", str(path), "--calib", str(x), "--variant", "stateful", "-o", str(tmp_path / "c"),
                   check=False)
    assert proc.returncode == 3 and "go_backwards layers" in proc.stderr and "--variant sequence" in proc.stderr


@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
def test_activation_variants_export_bit_exact(tmp_path, cell):
    """activation='relu' with Keras 3's hard_sigmoid gates (relu6(x + 3) / 6, not tf_keras's 0.2 x + 0.5):
    the float math matches Keras, the int8 C matches TFLite Micro step by step and over the run."""
    path = _keras_model(tmp_path, f"act_{cell}", lambda K: K.Sequential(
        [K.Input((12, 4)), getattr(K.layers, cell)(10, activation="relu", recurrent_activation="hard_sigmoid"),
         K.layers.Dense(3, activation="softmax")]))
    x = _data(tmp_path, (24, 12, 4))
    m = load_model(path)
    np.testing.assert_allclose(reference.forward(m.desc, np.load(x)[:4]), m.predict(np.load(x)[:4]), atol=2e-6)
    layer = m.desc.layers[0]
    assert (layer.activation, layer.recurrent_activation) == ("relu", "hard_sigmoid")
    per_step = count_model(m.desc)["layers"][0]["elementwise_per_step"]
    gates = 3 if cell == "LSTM" else 2
    assert per_step["sigmoid"] == 0 and per_step["tanh"] == 0
    assert per_step["relu"] == 10 * (gates + (2 if cell == "LSTM" else 1))  # hard_sigmoid's RELU6 + the activations
    exp = tmp_path / "export"
    run_cli("export", str(path), "--calib", str(x), "-o", str(exp))
    assert {r["mode"] for r in _check(exp)} == {"run", "step"}
    info = json.loads((exp / "export.json").read_text())
    assert info["verdict"]["status"] == "ok", info["verdict"]
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in info["ops"]  # the fused op's gates are fixed: the lowered graph


def test_unsupported_activation_is_a_clear_error(tmp_path):
    path = _keras_model(tmp_path, "selu", lambda K: K.Sequential(
        [K.Input((12, 4)), K.layers.GRU(6, activation="selu"), K.layers.Dense(2)]))
    proc = run_cli("profile", str(path), check=False)
    assert proc.returncode != 0 and "activation=selu" in proc.stderr and "tanh, relu" in proc.stderr
    assert "Traceback" not in proc.stderr
