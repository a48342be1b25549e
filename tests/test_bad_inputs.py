"""Bad inputs: a one-line error naming the problem and the fix, a non-zero exit, nothing written."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli


def _assert_clean_failure(proc, out: Path, *phrases: str) -> None:
    assert proc.returncode != 0
    lines = [l for l in proc.stderr.strip().splitlines() if l.startswith("error:")]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    for p in phrases:
        assert p in lines[0], lines[0]
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())
    assert not list(out.parent.glob(".edgelstm-*")), "staging folder left behind"


@pytest.fixture
def out(tmp_path):
    return tmp_path / "out"


def test_missing_model_file(tmp_path, out):
    proc = run_cli("convert", str(tmp_path / "nope.keras"), "--synthetic-calib", "-o", str(out), check=False)
    _assert_clean_failure(proc, out, "model file not found", "nope.keras")


def test_corrupt_model_file(tmp_path, out, user_files):
    bad = tmp_path / "broken.keras"
    bad.write_bytes(Path(user_files["lstm"]).read_bytes()[:3000])  # truncated archive
    proc = run_cli("convert", str(bad), "--calib", str(user_files["calib"]), "-o", str(out), check=False)
    _assert_clean_failure(proc, out, "broken.keras", "corrupt")


def test_unsupported_layer_named_with_index(tmp_path, out, user_files):
    import keras

    m = keras.Sequential([keras.Input((100, 6)), keras.layers.LSTM(8, return_sequences=True),
                          keras.layers.UnitNormalization(), keras.layers.LSTM(8), keras.layers.Dense(2)])
    path = tmp_path / "unitnorm.keras"
    m.save(path)
    proc = run_cli("convert", str(path), "--calib", str(user_files["calib"]), "-o", str(out), check=False)
    _assert_clean_failure(proc, out, "layer 1", "UnitNormalization", "supported layers: LSTM, GRU")


def test_calibration_of_the_wrong_shape(tmp_path, out, user_files):
    np.save(tmp_path / "short.npy", np.zeros((4, 50, 6), np.float32))
    proc = run_cli("convert", str(user_files["lstm"]), "--calib", str(tmp_path / "short.npy"), "-o", str(out),
                   check=False)
    _assert_clean_failure(proc, out, "(4, 50, 6)", "expects (N, 100, 6)")


def test_nan_in_weights(tmp_path, out, user_files):
    import keras

    m = keras.saving.load_model(user_files["lstm"])
    w = m.get_weights()
    w[1][0, 0] = np.nan
    m.set_weights(w)
    path = tmp_path / "nan.keras"
    m.save(path)
    proc = run_cli("convert", str(path), "--calib", str(user_files["calib"]), "-o", str(out), check=False)
    _assert_clean_failure(proc, out, "NaN", "weights")


def test_int8_without_calibration_is_refused(out, user_files):
    proc = run_cli("convert", str(user_files["lstm"]), "--quant", "int8", "-o", str(out), check=False)
    _assert_clean_failure(proc, out, "need calibration data", "--calib")


def test_int16x8_of_fused_lstm_says_why_and_what_instead(out, user_files):
    proc = run_cli("convert", str(user_files["lstm"]), "--calib", str(user_files["calib"]), "--quant", "int16x8",
                   "--variant", "sequence", "-o", str(out), check=False)
    _assert_clean_failure(proc, out, "UNIDIRECTIONAL_SEQUENCE_LSTM", "use --quant int8")


def test_stateful_bidirectional_is_refused(out):
    proc = run_cli("convert", "bilstm:4,dense:2@10/3", "--synthetic-calib", "--variant", "stateful", "-o", str(out),
                   check=False)
    _assert_clean_failure(proc, out, "Bidirectional", "--variant sequence")


def test_converter_crash_becomes_a_clear_error(out, user_files, monkeypatch):
    # Fault injection: the worker kills itself with SIGSEGV on this job, as the TF converter does on WHILE graphs.
    monkeypatch.setenv("EDGELSTM_CRASH_ON_JOB", "har_lstm_unrolled_int8")
    proc = run_cli("convert", str(user_files["lstm"]), "--calib", str(user_files["calib"]), "--variant",
                   "sequence,unrolled", "--quant", "int8", "-o", str(out), check=False)
    _assert_clean_failure(proc, out, "crashed with SIGSEGV", "tflite unrolled int8")


def test_data_file_that_is_not_numpy(tmp_path, out, user_files):
    bad = tmp_path / "calib.npy"
    bad.write_text("not numpy")
    proc = run_cli("convert", str(user_files["lstm"]), "--calib", str(bad), "-o", str(out), check=False)
    _assert_clean_failure(proc, out, "cannot read calib.npy")


def test_npz_without_x(tmp_path, out, user_files):
    np.savez(tmp_path / "d.npz", data=np.zeros((2, 100, 6)))
    proc = run_cli("convert", str(user_files["lstm"]), "--calib", str(tmp_path / "d.npz"), "-o", str(out), check=False)
    _assert_clean_failure(proc, out, "no 'x'")


def test_converted_model_that_litert_cannot_prepare(out):
    # The TF 2.21 converter emits an int16 UNPACK that LiteRT aborts on: isolated, it is a clear error.
    proc = run_cli("convert", "gru:8,dense:3@20/4", "--synthetic-calib", "--quant", "int16x8", "--variant",
                   "unrolled", "-o", str(out), check=False)
    _assert_clean_failure(proc, out, "does not run in litert", "SIGABRT")
