"""Keras Masking in front of LSTM/GRU: zero-padded variable-length data (issue 12).

Small Keras 3 models with random weights: Masking(0.0) -> LSTM(8) -> Dense(3, softmax) and
Masking(0.0) -> GRU(8) -> Dense(2). The reference must equal Keras on padded data, the stateful
step graph converts with its runners skipping masked steps, the fixed-length variants are
refused, and the C export skips masked steps bit-exactly with TFLite Micro.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli, shared_folder


SEQ, FEAT = 12, 4


def _padded(n: int, seed: int) -> np.ndarray:
    """Random sequences zero-padded in front, at the end, or with a gap in the middle (by sample)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, SEQ, FEAT)).astype(np.float32)
    for i in range(n):
        k = int(rng.integers(2, SEQ - 2))  # masked steps
        if i % 3 == 0:
            x[i, :k] = 0.0
        elif i % 3 == 1:
            x[i, SEQ - k:] = 0.0
        else:
            x[i, 2:2 + k] = 0.0
    return x


def _build(kind: str, path: Path) -> Path:
    import keras

    keras.utils.set_random_seed(1)
    L = keras.layers
    cell = L.LSTM(8) if kind == "lstm" else L.GRU(8)
    head = L.Dense(3, activation="softmax") if kind == "lstm" else L.Dense(2)
    model = keras.Sequential([keras.Input((SEQ, FEAT)), L.Masking(0.0), cell, head])
    rng = np.random.default_rng(3)
    model.set_weights([w + rng.normal(0, 0.2, w.shape).astype(w.dtype) for w in model.get_weights()])
    model.save(path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("masking")
    np.save(d / "calib.npy", _padded(32, seed=0))
    np.save(d / "val.npy", _padded(12, seed=1))
    return {"lstm": _build("lstm", d / "lstm.keras"), "gru": _build("gru", d / "gru.keras"),
            "calib": d / "calib.npy", "val": d / "val.npy", "dir": d}


@pytest.fixture(scope="module")
def loaded(files):
    from edgelstm.load import load_model

    return {k: load_model(files[k]) for k in ("lstm", "gru")}


@pytest.fixture(scope="module")
def exports(files, loaded, tmp_path_factory) -> dict[str, Path]:
    """Built once per run (shared_folder): under xdist the two workers share them (fixed seeds)."""
    from edgelstm.data import Dataset
    from edgelstm.export.api import export

    def build(root: Path) -> None:
        calib, val = np.load(files["calib"]), np.load(files["val"])
        for kind in ("lstm", "gru"):
            export(loaded[kind], root / f"export_{kind}", quant="int8", calib=Dataset(calib, None, "calib"),
                   validation=Dataset(val, None, "val"))

    root = shared_folder(tmp_path_factory, "masking_exports", build)
    return {kind: root / f"export_{kind}" for kind in ("lstm", "gru")}


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_reference_equals_keras_on_padded_data(kind, loaded):
    from edgelstm import reference

    m = loaded[kind]
    assert m.desc.mask_value == 0.0 and m.desc.summary()["mask_value"] == 0.0
    x = np.random.default_rng(5).normal(size=(5, SEQ, FEAT)).astype(np.float32)
    x[0, :7] = 0.0  # pre-padding
    x[1, 4:] = 0.0  # post-padding
    x[2, 3:9] = 0.0  # a gap in the middle
    x[3] = 0.0  # every step masked: Keras gives the head on the zero state
    x[4, 5, :2] = 0.0  # some features zero: not masked
    want, got = m.predict(x), reference.forward(m.desc, x)
    np.testing.assert_allclose(got, want, atol=1e-5)
    # dropping the masked steps is the model on the shorter sequence
    short = reference.forward(m.desc.with_seq_len(5), x[:1, 7:])
    np.testing.assert_allclose(got[0], short[0], atol=1e-6)


def _keras_model(layers):
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((SEQ, FEAT)), *layers])


@pytest.mark.parametrize("case, message", [
    ("late", "Masking only as the first layer"),
    ("sequences", "returning sequences"),
    ("bidirectional", "Bidirectional"),
    ("conv", "Conv1D"),
    ("backwards", "go_backwards"),
])
def test_other_placements_are_refused(case, message):
    import keras

    from edgelstm.errors import ModelError
    from edgelstm.load import describe_keras

    L = keras.layers
    layers = {"late": [L.LSTM(4, return_sequences=True), L.Masking(0.0), L.LSTM(3)],
              "sequences": [L.Masking(0.0), L.LSTM(4, return_sequences=True)],
              "bidirectional": [L.Masking(0.0), L.Bidirectional(L.LSTM(4))],
              "conv": [L.Masking(0.0), L.Conv1D(4, 3), L.LSTM(3)],
              "backwards": [L.Masking(0.0), L.LSTM(4, go_backwards=True)]}[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns that Conv1D drops the mask
        model = _keras_model(layers)
    with pytest.raises(ModelError, match=message):
        describe_keras(model, "m", "", "keras3")


def test_variant_rules_and_defaults(loaded):
    from edgelstm.convert import rules
    from edgelstm.errors import UnsupportedCombination

    desc = loaded["lstm"].desc
    for variant in ("sequence", "unrolled"):
        with pytest.raises(UnsupportedCombination, match="use --variant stateful"):
            rules.check(desc, "tflite", variant, "int8")
    rules.check(desc, "tflite", "stateful", "int8")
    rules.check(desc, "onnx", "stateful", "int8")
    assert rules.default_variants(desc, None) == ["stateful"]
    assert rules.default_variants(desc, list(rules.VARIANTS), all_requested=True) == ["stateful"]
    plain = desc.__class__(desc.name, desc.seq_len, desc.input_size, desc.layers)
    assert rules.default_variants(plain, None) == ["sequence"]
    assert rules.default_variants(plain, list(rules.VARIANTS), all_requested=True) == list(rules.VARIANTS)


def test_variant_all_on_the_command_line_is_marked():
    from edgelstm.convert import rules
    from edgelstm.convert.command import AllOf, _csv

    assert isinstance(_csv(rules.VARIANTS)("all"), AllOf)
    assert not isinstance(_csv(rules.VARIANTS)("sequence,unrolled,stateful"), AllOf)


def test_cli_refuses_the_sequence_variant(files, tmp_path):
    proc = run_cli("convert", str(files["lstm"]), "--calib", str(files["calib"]), "--variant", "sequence",
                   "-o", str(tmp_path / "out"), check=False)
    assert proc.returncode == 3
    assert "cannot skip the steps Masking" in proc.stderr and "--variant stateful" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_convert_stateful_int8_ok_on_padded_data(files, loaded, tmp_path):
    from edgelstm.convert.api import convert
    from edgelstm.data import Dataset

    manifest = convert(loaded["gru"], tmp_path / "out", ["tflite"], ["stateful"], ["int8"],
                       calib=Dataset(np.load(files["calib"]), None, "calib"),
                       validation=Dataset(np.load(files["val"]), None, "val"))
    art = manifest.get("tflite", "stateful", "int8")
    assert art["verdict"]["status"] == "ok", art["verdict"]
    assert art["metrics"]["tflm"]["max_abs_error"] < 0.1
    assert any(n.startswith("Masking:") for n in art["notes"])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_export_int8_bit_exact_with_padded_inputs(kind, exports, files):
    d = exports[kind]
    info = json.loads((d / "export.json").read_text())
    assert info["variant"] == "stateful" and info["api"]["mask"]["value"] == 0.0
    assert "hx_masked" in info["api"]["functions"]
    assert info["verdict"]["status"] == "ok", info["verdict"]
    assert [r["mismatches"] for r in info["host_check"]] == [0, 0]
    assert info["host_check"][0]["vectors"] >= 12 + 4  # the padded validation inputs and the padded vectors
    src = (d / "hx_model.c").read_text()
    assert "if (hx_masked(x_t))" in src and "last_y" in (d / "hx_model.h").read_text()


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_all_masked_sequence_gives_the_reset_output(kind, exports, tmp_path):
    from edgelstm.export.check import (MODE_RUN, MODE_STEP, build_host, expected_run, expected_step,
                                       quantize_input, run_check_program)

    d = exports[kind]
    info = json.loads((d / "export.json").read_text())
    zp = info["api"]["output_zero_point"]
    x = np.random.default_rng(2).normal(size=(3, SEQ, FEAT)).astype(np.float32)
    x[0] = 0.0  # every step masked
    x[1, :SEQ - 1] = 0.0  # only the last step counts
    x[2, 1:] = 0.0  # only the first step counts: later masked steps keep its output
    xs = quantize_input(info, x)
    assert info["api"]["mask"]["input_value"] == info["api"]["input_zero_point"]  # mask 0.0 = the zero point
    exe = build_host(d, info, tmp_path)
    run = run_check_program([str(exe)], info, xs, MODE_RUN)
    step = run_check_program([str(exe)], info, xs, MODE_STEP)
    np.testing.assert_array_equal(run, expected_run(d, info, xs).reshape(run.shape))
    np.testing.assert_array_equal(step, expected_step(d, info, xs).reshape(step.shape))
    assert (run[0] == zp).all() and (step[0] == zp).all()  # documented: 0.0, the output zero point
    assert (step[2] == step[2][0]).all()  # masked steps after the first leave the output unchanged
    assert (step[1][:-1] == zp).all() and (step[1][-1] == run[1]).all()


def test_runner_skips_masked_steps(exports, loaded):
    from edgelstm.convert.runners import make_engine, run_stateful

    data = (exports["lstm"] / "hx.tflite").read_bytes()
    m = loaded["lstm"]
    x = np.random.default_rng(4).normal(size=(2, SEQ, FEAT)).astype(np.float32)
    x[0, :6] = 0.0
    x[1] = 0.0
    got = run_stateful(make_engine("litert", data), x, False, mask_value=0.0)
    want = m.predict(x)
    assert np.abs(got[0] - want[0]).max() < 0.05
    assert (got[1] == 0).all()  # every step masked: the reset output


def test_profile_notes_the_upper_bound(loaded):
    from edgelstm.profile import profile

    report = profile(loaded["gru"].desc, "cortex-m4", "int8")
    assert report["totals"]["macs"] > 0
    assert any("upper bound" in n and "Masking" in n for n in report["notes"])
