"""Session fixtures: the demo models are converted once per test session.

The demo models ship with the package (edgelstm/models/: the same weights on every CPU); they are
copied as a user's Keras 3 .keras files and converted through the real CLI
(``edgelstm convert model.keras --calib calib.npy``), as a user would.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    # Quiet TF; anything that trains (demo --retrain) does so in a per-session cache.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "EDGELSTM_CACHE" not in os.environ:
        import tempfile

        os.environ["EDGELSTM_CACHE"] = _OWN_CACHE[0] = tempfile.mkdtemp(prefix="edgelstm-test-cache-")


_OWN_CACHE = [""]  # the cache folder this session made (not a user's EDGELSTM_CACHE)

def pytest_unconfigure(config: pytest.Config) -> None:
    if _OWN_CACHE[0]:
        import shutil

        shutil.rmtree(_OWN_CACHE[0], ignore_errors=True)


def run_cli(*args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the installed ``edgelstm`` console script."""
    exe = Path(sys.executable).with_name("edgelstm")
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"edgelstm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def demo_data():
    from edgelstm.data import basicmotions

    return basicmotions()


@pytest.fixture(scope="session")
def lstm_model():
    from edgelstm.load import demo_model

    return demo_model("lstm")


@pytest.fixture(scope="session")
def gru_model():
    from edgelstm.load import demo_model

    return demo_model("gru")


@pytest.fixture(scope="session")
def calib(lstm_model):
    return lstm_model.calib


@pytest.fixture(scope="session")
def user_files(tmp_path_factory, lstm_model, gru_model):
    """What a user has: two Keras 3 .keras files, calibration .npy and labelled validation .npz."""
    d = tmp_path_factory.mktemp("user")
    files = {}
    for kind, m in (("lstm", lstm_model), ("gru", gru_model)):
        dst = d / f"har_{kind}.keras"
        dst.write_bytes(Path(m.path).read_bytes())
        files[kind] = dst
    np.save(d / "calib.npy", lstm_model.calib.x)
    np.savez(d / "val.npz", x=lstm_model.validation.x, y=lstm_model.validation.y)
    files["calib"], files["val"] = d / "calib.npy", d / "val.npz"
    return files


def shared_folder(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder built once per test run. Under pytest-xdist (``make test`` runs two workers) the workers
    share it: the first to ask builds it under a lock, the others wait and reuse it."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        out = tmp_path_factory.mktemp(name)
        build(out)
        return out
    root = tmp_path_factory.getbasetemp().parent / "shared"  # the run's folder, above each worker's own
    root.mkdir(exist_ok=True)
    out, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            build(out)
            done.touch()
    return out


def _convert_all(tmp_path_factory, user_files, kind: str):
    from edgelstm.convert.api import Manifest

    out = shared_folder(tmp_path_factory, f"{kind}_artifacts", lambda d: _convert_cli(user_files, kind, d))
    data = json.loads((out / "manifest.json").read_text())
    manifest = Manifest(model=data["model"], artifacts=data["artifacts"], notes=data["notes"])
    for art in manifest.artifacts:
        art["path"] = str(out / art["path"])
    return manifest


def _convert_cli(user_files, kind: str, out: Path) -> None:
    run_cli("convert", str(user_files[kind]), "--calib", str(user_files["calib"]), "--validation",
            str(user_files["val"]), "--variant", "sequence,stateful", "--quant", "float32,int8", "--format",
            "tflite,onnx", "-o", str(out))


@pytest.fixture(scope="session")
def lstm_artifacts(tmp_path_factory, user_files):
    """Manifest of the demo LSTM: {sequence, stateful} x {float32, int8} x {tflite, onnx}, paths absolute.
    (The demo models' unrolled artifacts, 100 timesteps spelled out, are converted by make bench; the unrolled
    path is tested on the regression model and on small specs.)"""
    return _convert_all(tmp_path_factory, user_files, "lstm")


@pytest.fixture(scope="session")
def gru_artifacts(tmp_path_factory, user_files):
    return _convert_all(tmp_path_factory, user_files, "gru")


def _export(tmp_path_factory, user_files, kind: str) -> Path:
    def build(d: Path) -> None:
        run_cli("export", str(user_files[kind]), "--calib", str(user_files["calib"]), "--validation",
                str(user_files["val"]), "--quant", "int8", "--target", "cortex-m4", "--build", "-o", str(d / "export"))

    return shared_folder(tmp_path_factory, f"{kind}_export", build) / "export"


@pytest.fixture(scope="session")
def gru_export(tmp_path_factory, user_files) -> Path:
    """The demo GRU exported to C (int8, sequence, cortex-m4 build) through the CLI."""
    return _export(tmp_path_factory, user_files, "gru")


@pytest.fixture(scope="session")
def lstm_export(tmp_path_factory, user_files) -> Path:
    return _export(tmp_path_factory, user_files, "lstm")


# ---- layer-kind export tests (test_conv_export, test_dwconv_export, test_attention, test_layernorm) ----------

def keras_models(tmp_path_factory, folder: str, kinds, build: Callable) -> dict:
    """kind -> (LoadedModel, calibration Dataset): ``build(kind)`` -> (Keras model, x), saved as a user's .keras
    file and loaded through edgelstm (whose load check compares its reading with Keras)."""
    from edgelstm.data import Dataset
    from edgelstm.load import load_model

    d = tmp_path_factory.mktemp(folder)
    out = {}
    for kind in kinds:
        m, x = build(kind)
        m.save(d / f"{kind}.keras")
        out[kind] = (load_model(d / f"{kind}.keras"), Dataset(x, None, "random"))
    return out


def export_all(tmp_path_factory, folder: str, exports: dict[str, tuple[str, str]], models: dict) -> dict[str, Path]:
    """Every export (name: (model kind, quant)) through the API, two at a time: each converts in its own child
    process. Random weights: any verdict (force). Built once per run (shared_folder): under xdist a module whose
    tests land on both workers exports once, not once per worker (the models are built with fixed seeds)."""
    from concurrent.futures import ThreadPoolExecutor

    from edgelstm.export.api import export

    def build(d: Path) -> None:
        def one(name: str) -> None:
            kind, quant = exports[name]
            model, calib = models[kind]
            export(model, d / name, quant=quant, calib=calib, force=True)

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(one, exports))

    d = shared_folder(tmp_path_factory, folder, build)
    return {name: d / name for name in exports}


def check_more_vectors(d: Path, info: dict, tmp_path: Path, seed: int, extra: np.ndarray | None = None):
    """hx_run of the export on more vectors than its own check: 24 random, in int8 also 8 of the extreme values
    (saturated windows, padded edges) and ``extra``; bit for bit in int8 (and outputs that vary with the input),
    1e-5 in float32. Returns (host program, vectors, outputs)."""
    from edgelstm.export.check import MODE_RUN, build_host, expected_run, make_vectors, run_check_program

    a = info["api"]
    xs = make_vectors(info, None, n_random=24, seed=seed)
    if a["dtype"] == "int8":
        rng = np.random.default_rng(seed)
        more = [rng.choice(np.array([-128, 127, 0, -1], np.int8), size=(8, a["seq_len"], a["input_size"]))]
        xs = np.concatenate([xs, *more, *([] if extra is None else [extra])])
    exe = build_host(d, info, tmp_path)
    got = run_check_program([str(exe)], info, xs, MODE_RUN)
    want = expected_run(d, info, xs).reshape(got.shape)
    assert got.shape == (len(xs), a["output_steps"], a["output_size"])
    if a["dtype"] == "int8":
        assert got.dtype == np.int8 and np.array_equal(got, want), int((got != want).sum())
        assert len(np.unique(got)) > 4  # the outputs vary with the input (not a constant model)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    return exe, xs, got
