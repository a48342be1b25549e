"""Issue 13: a built wheel (not an editable install) exports and runs: the C runtime, the board files and
the target profiles are package data, the command runs from outside the source tree. The new venv gets
the heavy dependencies from the test's own environment (a .pth line: no download) and the wheel with
--no-deps."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in ("arm-none-eabi-gcc", "qemu-system-arm", "gcc")),
                                reason="toolchain missing")


def _run(cmd: list, cwd: Path, env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, (cmd, r.stdout[-2000:], r.stderr[-3000:])
    return r


def test_wheel_exports_and_runs_outside_the_source_tree(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, ROOT],
         tmp_path, env)
    wheel = next(dist.glob("edgelstm-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for f in ("edgelstm/firmware_export/runtime/include/edgelstm.h", "edgelstm/firmware_export/runtime/src/fc_s8.c",
              "edgelstm/firmware_export/boards/mps2/startup.c", "edgelstm/profiles/cortex-m4.toml",
              "edgelstm/models/demo_lstm.keras", "edgelstm/models/table/har_cnn_lstm.keras",
              "edgelstm/models/table/vowels/simple_rnn.keras", "edgelstm/data/JapaneseVowels_TEST.ts",
              "edgelstm/data/standardisation.json"):
        assert f in names, f
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    for dep in ("tflite-micro", "ai-edge-litert", "onnx", "onnxruntime", "tf2onnx", "tensorflow-cpu", "tf-keras"):
        assert f"Requires-Dist: {dep}" in meta, dep

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], tmp_path, env)
    py = venv / "bin" / "python"
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path,
                     env).stdout.strip())
    (site / "deps_from_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # no .pth files of it run
    _run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], tmp_path, env)
    work = tmp_path / "elsewhere"
    work.mkdir()
    exe = venv / "bin" / "edgelstm"
    assert _run([exe, "--version"], work, env).stdout.strip() == "edgelstm 0.1.0"
    where = _run([py, "-c", "import edgelstm; print(edgelstm.__file__)"], work, env).stdout.strip()
    assert where.startswith(str(site)), where
    _run([exe, "export", "--demo", "lstm", "--build", "-o", "out"], work, env)
    r = json.loads(_run([exe, "run", "out", "--target", "cortex-m4", "--vectors", "4", "--json"], work, env).stdout)
    assert r["mismatches"] == 0 and r["vectors"] == 4
