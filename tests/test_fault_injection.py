"""Fault injection: bad data, bad specs, bad -o, bad arguments, damaged exports, concurrent runs,
signals, oversized builds and run-to-run determinism.

Every failure must be exactly one ``error: <what>; <what to do>`` line on stderr, no traceback, a
non-zero exit code, and nothing half-written: the output folder absent or unchanged, no staging
folder ``.edgelstm-*`` and no lock file beside it. Argument checks run before any conversion, so
most tests take well under a second; the few that convert use tiny spec models.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from conftest import run_cli


EXE = Path(sys.executable).with_name("edgelstm")
SPEC = "lstm:4@10/3"
OUTPUT_ERROR = 8  # edgelstm.errors.OutputError: -o cannot be written, is locked, or is not ours to replace
NOBODY = 65534


def _one_error(proc: subprocess.CompletedProcess, code: int, *phrases: str) -> str:
    """The run failed with ``code`` and exactly one error line holding every phrase."""
    assert proc.returncode == code, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "usage:" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr[-3000:]
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    assert "; " in lines[0], f"no advice after the problem: {lines[0]}"
    return lines[0]


def _no_leftovers(out: Path) -> None:
    """No staging folder and no lock file beside the output folder."""
    assert not list(out.parent.glob(".edgelstm-*")), list(out.parent.iterdir())
    assert not list(out.parent.glob(f".{out.name}.edgelstm-lock")), list(out.parent.iterdir())


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture(scope="module")
def data_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Calibration/validation files for SPEC (N, 10, 3): good, and broken in every way we refuse."""
    d = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    arrays = {
        "good": rng.normal(size=(8, 10, 3)).astype(np.float32),
        "zeros": np.zeros((8, 10, 3), np.float32),
        "constant_features": np.broadcast_to(np.array([0.5, -1.0, 2.0], np.float32), (8, 10, 3)).copy(),
        "tiny": (rng.normal(size=(8, 10, 3)) * 1e-9).astype(np.float32),
        "int64": rng.integers(-3, 4, size=(8, 10, 3)).astype(np.int64),
        "int32": rng.integers(-3, 4, size=(8, 10, 3)).astype(np.int32),
    }
    files = {}
    for name, x in arrays.items():
        files[name] = d / f"{name}.npy"
        np.save(files[name], x)
    return files


# ---------------------------------------------------------------- 1. calibration / validation data

@pytest.mark.parametrize("name, phrases", [
    ("zeros", ("zeros.npy has no spread", "every value is 0", "pass real recorded inputs")),
    ("constant_features", ("constant_features.npy has no spread", "every feature is constant")),
    ("tiny", ("tiny.npy spans only", "int8 input scale", "standardised")),
    ("int64", ("int64.npy has dtype int64", "pass float32 data", "x.astype('float32')")),
])
def test_calibration_data_without_spread_or_not_float_is_refused(data_files, out, name, phrases):
    proc = run_cli("convert", SPEC, "--calib", str(data_files[name]), "--quant", "int8", "-o", str(out),
                   check=False)
    _one_error(proc, 2, *phrases)
    assert not out.exists()
    _no_leftovers(out)


@pytest.mark.parametrize("command", ["convert", "export"])
@pytest.mark.parametrize("name, phrases", [
    ("zeros", ("zeros.npy has no spread",)),
    ("int32", ("int32.npy has dtype int32", "x.astype('float32')")),
])
def test_validation_data_gets_the_same_checks(data_files, out, command, name, phrases):
    proc = run_cli(command, SPEC, "--calib", str(data_files["good"]), "--validation", str(data_files[name]),
                   "-o", str(out), check=False)
    _one_error(proc, 2, *phrases)
    assert not out.exists()
    _no_leftovers(out)


# ---------------------------------------------------------------- 2. model specs

@pytest.mark.parametrize("spec, phrase", [
    ("lstm:0", "lstm units 0 is out of range 1..4096"),
    ("gru:999999", "gru units 999999 is out of range 1..4096"),
    ("lstm:4@0/6", "T (timesteps) 0 is out of range"),
    ("lstm:4@10/0", "F (features) 0 is out of range"),
    ("lstm:4@abc", "'@abc' must be @T/F"),
    ("lstm:4@10/x", "F (features) 'x' is not a whole number"),
    ("lstm:four", "lstm units 'four' is not a whole number"),
    ("foo:3", "unknown layer 'foo'"),
    ("dense:4", "no recurrent (lstm, gru, rnn) layer"),
])
def test_malformed_spec_explains_the_syntax(out, spec, phrase):
    proc = run_cli("convert", spec, "--synthetic-calib", "-o", str(out), check=False)
    line = _one_error(proc, 2, f"'{spec}' is not a valid model spec", phrase, "lstm:16,dense:4@T/F")
    assert "not found" not in line
    assert not out.exists()
    _no_leftovers(out)


def test_malformed_spec_in_profile_too(out):
    proc = run_cli("profile", "lstm:4@0/6", "-o", str(out), check=False)
    _one_error(proc, 2, "T (timesteps) 0 is out of range", "lstm:16,dense:4@T/F")
    assert not out.exists()


def test_missing_keras_file_with_a_colon_is_still_a_missing_file(out):
    proc = run_cli("convert", "models:v2/har.keras", "--synthetic-calib", "-o", str(out), check=False)
    _one_error(proc, 2, "model file not found: models:v2/har.keras")


# ---------------------------------------------------------------- 3. the output folder (-o)

_COMMANDS = {
    "convert": ["convert", SPEC, "--synthetic-calib"],
    "export": ["export", SPEC, "--synthetic-calib"],
    "profile": ["profile", SPEC],
    "demo": ["demo", "--kind", "lstm"],
}


@pytest.mark.parametrize("command", sorted(_COMMANDS))
def test_output_that_is_a_file_is_refused_before_any_work(tmp_path, command):
    target = tmp_path / "results.txt"
    target.write_text("my notes\n")
    start = time.monotonic()
    proc = run_cli(*_COMMANDS[command], "-o", str(target), check=False)
    _one_error(proc, OUTPUT_ERROR, "is a file", "pass a")
    assert time.monotonic() - start < 20, "the check must come before loading and converting"
    assert target.read_text() == "my notes\n"
    _no_leftovers(target)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder that an unprivileged user can reach (pytest's tmp_path is private to root)."""
    d = Path(tempfile.mkdtemp(prefix="edgelstm-test-ro-"))
    d.chmod(0o777)
    yield d
    for p in [d, *d.rglob("*")]:
        if p.is_dir():
            p.chmod(0o755)
    shutil.rmtree(d)


def _as_unprivileged(*args: str) -> subprocess.CompletedProcess:
    """root may write anywhere: run as nobody so that permissions apply."""
    cmd = [str(EXE), *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot drop privileges to test permissions")
        cmd = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *cmd]
    env = dict(os.environ, HOME="/tmp")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("command", sorted(_COMMANDS))
@pytest.mark.parametrize("where", ["read-only folder", "inside a read-only folder"])
def test_unwritable_output_is_refused_before_any_work(shared_tmp, command, where):
    ro = shared_tmp / "ro"
    ro.mkdir()
    (ro / "keep.txt").write_text("keep\n")
    if command in ("convert", "export"):  # a folder of theirs, so that only permissions stand in the way
        (ro / ("manifest.json" if command == "convert" else "export.json")).write_text("{}")
    before = _tree(ro)
    ro.chmod(0o555)
    target = ro if where == "read-only folder" else ro / "new" / "out"
    start = time.monotonic()
    proc = _as_unprivileged(*_COMMANDS[command], "-o", str(target))
    _one_error(proc, OUTPUT_ERROR, "is not writable", "make it writable or pass another -o")
    assert time.monotonic() - start < 20, "the check must come before loading and converting"
    assert _tree(ro) == before
    assert not list(shared_tmp.glob(".edgelstm-*")) and not list(shared_tmp.glob(".*edgelstm-lock"))


@pytest.mark.parametrize("command, marker", [("convert", "manifest.json"), ("export", "export.json")])
def test_a_folder_edgelstm_did_not_write_is_never_replaced(tmp_path, command, marker):
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("precious\n")
    proc = run_cli(*_COMMANDS[command], "-o", str(mine), check=False)
    _one_error(proc, OUTPUT_ERROR, f"holds files but no {marker}", f"not the output of an earlier edgelstm {command}",
               "pass a new or empty folder")
    assert _tree(mine) == {"chapter1.tex": b"precious\n"}
    _no_leftovers(mine)


# ---------------------------------------------------------------- 4. --seq-len

@pytest.mark.parametrize("command", ["convert", "export", "profile"])
@pytest.mark.parametrize("value", ["0", "-5", "ten"])
def test_bad_seq_len_is_one_usage_error_line(out, command, value):
    proc = run_cli(command, SPEC, "--seq-len", value, "-o", str(out), check=False)
    _one_error(proc, 2, "argument --seq-len", value, f"edgelstm {command} --help")
    assert not out.exists()
    _no_leftovers(out)


def test_every_usage_error_is_one_line():
    proc = run_cli("export", SPEC, "--quant", "int4", check=False)
    _one_error(proc, 2, "argument --quant: invalid choice: 'int4'", "edgelstm export --help")


# ---------------------------------------------------------------- 5 and 8. damaged exports, --vectors, oversize

OVERSIZE_SPEC = "lstm:80@10/8"  # 28 KB of int8 weights: under cortex-m0plus' 32 KB until the runtime is added


@pytest.fixture(scope="module")
def oversize_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export that fits cortex-m0plus' flash only with --allow-oversize (and has validation inputs)."""
    d = tmp_path_factory.mktemp("oversize")
    x = np.random.default_rng(1).normal(size=(8, 10, 8)).astype(np.float32)
    np.save(d / "data.npy", x)
    out = d / "export"
    proc = run_cli("export", OVERSIZE_SPEC, "--calib", str(d / "data.npy"), "--validation", str(d / "data.npy"),
                   "--build", "--target", "cortex-m0plus", "--allow-oversize", "--no-check", "-o", str(out),
                   check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "of flash" in warnings[0] and "cortex-m0plus has 32,768 B" in warnings[0], warnings
    assert json.loads((out / "export.json").read_text())["build"]["fits"] is False
    return out


def test_build_that_does_not_fit_the_target_is_an_error(oversize_export):
    from edgelstm.errors import TargetError
    from edgelstm.export.build import build_sizes
    from edgelstm.profile.targets import load_target

    info = json.loads((oversize_export / "export.json").read_text())
    with pytest.raises(TargetError) as exc:
        build_sizes(oversize_export, info, load_target("cortex-m0plus"))
    message = str(exc.value)
    assert exc.value.exit_code == 5
    assert "B of flash (model" in message and "cortex-m0plus has 32,768 B" in message, message
    assert "--target cortex-m4" in message and "--allow-oversize" in message, message
    assert build_sizes(oversize_export, info, load_target("cortex-m4"))["fits"] is True


def test_export_build_of_a_model_whose_weights_cannot_fit_fails_before_converting(out):
    start = time.monotonic()
    proc = run_cli("export", "lstm:96@10/8", "--synthetic-calib", "--build", "--target", "cortex-m0plus",
                   "-o", str(out), check=False)
    # "weights alone": the check made before converting (the conversion and build take ~30 s more)
    _one_error(proc, 5, "does not fit cortex-m0plus", "weights alone take 39,936 B", "32,768 B", "--allow-oversize")
    assert time.monotonic() - start < 60
    assert not out.exists()
    _no_leftovers(out)


def _damaged_copy(export: Path, tmp_path: Path, name: str, data: bytes) -> Path:
    copy = tmp_path / "export"
    shutil.copytree(export, copy)
    (copy / name).write_bytes(data)
    return copy


def test_run_on_an_export_with_a_truncated_tflite(oversize_export, tmp_path):
    damaged = _damaged_copy(oversize_export, tmp_path, "hx.tflite", (oversize_export / "hx.tflite").read_bytes()[:600])
    before = _tree(damaged)
    proc = run_cli("run", str(damaged), "--target", "cortex-m4", check=False)
    _one_error(proc, 2, "damaged export", "hx.tflite is not a valid .tflite", "edgelstm export")
    assert _tree(damaged) == before


def test_run_on_an_export_with_corrupt_validation_inputs(oversize_export, tmp_path):
    good = (oversize_export / "validation_inputs.npy").read_bytes()
    damaged = _damaged_copy(oversize_export, tmp_path, "validation_inputs.npy", good[:100])
    proc = run_cli("run", str(damaged), "--target", "cortex-m4", check=False)
    _one_error(proc, 2, "damaged export", "validation_inputs.npy is not a readable .npy", "edgelstm export")


@pytest.mark.parametrize("vectors, phrases", [("100000000", ("out of range 1..1000", "--vectors 1000 or fewer")),
                                               ("0", ("must be at least 1", "--vectors 1 to 1000"))])
def test_run_vectors_are_capped_before_anything_is_allocated(oversize_export, vectors, phrases):
    start = time.monotonic()
    proc = run_cli("run", str(oversize_export), "--vectors", vectors, check=False)
    _one_error(proc, 2, "argument --vectors", *phrases)
    assert time.monotonic() - start < 10


# ---------------------------------------------------------------- 6. whole-folder replacement and the lock

def test_export_replaces_an_older_export_whole_and_a_second_run_fails_on_the_lock(tmp_path):
    out = tmp_path / "export"
    (out / "runtime" / "src").mkdir(parents=True)
    (out / "export.json").write_text("{}")  # an older export: stale files of another --name and variant
    for stale in ("hx_step.tflite", "hx.mk", "hx_model.c", "runtime/src/old_kernel.c"):
        (out / stale).write_text("stale")
    first = subprocess.Popen([str(EXE), "export", SPEC, "--synthetic-calib", "--variant", "stateful", "--name", "hy",
                              "--no-check", "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / ".export.edgelstm-lock"
    deadline = time.monotonic() + 60
    while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    start = time.monotonic()
    second = run_cli("export", SPEC, "--synthetic-calib", "-o", str(out), check=False)
    second_took = time.monotonic() - start
    stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr[-3000:]
    _one_error(second, OUTPUT_ERROR, "another edgelstm run is writing", str(lock), "wait for it to finish")
    assert second_took < 10, "the lock must be checked before the model is loaded"
    files = set(_tree(out))
    assert not any(f.startswith("hx") or "old_kernel" in f for f in files), sorted(files)
    assert {"export.json", "hy.mk", "hy.tflite", "hy_model.c", "hy_model.h", "CMakeLists.txt"} <= files
    assert json.loads((out / "export.json").read_text())["name"] == "hy"
    _no_leftovers(out)


# ---------------------------------------------------------------- 9. determinism (and convert's replacement)

def test_onnx_artifacts_are_byte_identical_and_convert_replaces_its_folder(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    second.mkdir()
    (second / "manifest.json").write_text("{}")  # an older convert output
    (second / "old_sequence_int8.onnx").write_bytes(b"stale")
    args = ["convert", SPEC, "--synthetic-calib", "--format", "onnx", "--variant", "sequence,stateful", "--quant",
            "float32,int8"]
    runs = [subprocess.Popen([str(EXE), *args, "-o", str(o)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for o in (first, second)]
    for proc in runs:
        _, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, stderr[-3000:]
    a, b = _tree(first), _tree(second)
    onnx_files = sorted(f for f in a if f.endswith(".onnx"))
    assert len(onnx_files) == 4, sorted(a)
    assert set(a) == set(b), (sorted(a), sorted(b))
    differ = [f for f in onnx_files if a[f] != b[f]]
    assert not differ, f"{len(differ)} of 4 ONNX files differ between identical runs: {differ}"
    _no_leftovers(second)


# ---------------------------------------------------------------- 7. signals

def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state) of a live process, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[0]


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                st = _stat(int(entry.name))
                if st is not None and st[0] in frontier:
                    children.add(int(entry.name))
        found |= children
        frontier = children - {pid}
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[1] not in "ZX"  # a zombie waits for a reaper but runs nothing


def _convert_until_a_worker_runs(tmp_path: Path) -> tuple[subprocess.Popen, Path, Path, set[int]]:
    private_tmp = tmp_path / "tmpdir"
    private_tmp.mkdir()
    out = tmp_path / "out"
    proc = subprocess.Popen([str(EXE), "convert", SPEC, "--synthetic-calib", "--variant", "sequence", "--quant", "int8",
                             "-o", str(out)], env=dict(os.environ, TMPDIR=str(private_tmp)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        workers = [p for p in _descendants(proc.pid) if "edgelstm.convert.worker" in _cmdline(p)]
        if workers:
            time.sleep(0.5)  # let it start converting
            assert list(private_tmp.glob("edgelstm-convert-*")), list(private_tmp.iterdir())
            return proc, private_tmp, out, _descendants(proc.pid)
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"no converter worker appeared: {proc.communicate()[1][-2000:]}")


def _wait_until_clean(children: set[int], private_tmp: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = [p for p in children if _alive(p)]
        left = list(private_tmp.glob("edgelstm-*"))
        if not alive and not left:
            return
        time.sleep(0.1)
    raise AssertionError(f"still running: {[(p, _cmdline(p)) for p in alive]}; left in TMPDIR: {left}")


def test_sigterm_kills_the_workers_cleans_up_and_says_so(tmp_path):
    proc, private_tmp, out, children = _convert_until_a_worker_runs(tmp_path)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    _one_error(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), 128 + signal.SIGTERM,
               "interrupted by SIGTERM", "run the command again")
    _wait_until_clean(children, private_tmp, 5)
    assert not out.exists()
    _no_leftovers(out)


def test_sigkill_leaves_no_worker_and_no_temporary_folder(tmp_path):
    proc, private_tmp, out, children = _convert_until_a_worker_runs(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    _wait_until_clean(children, private_tmp, 10)  # workers die with the parent; the janitor removes folders
    assert not out.exists()
    assert not list(out.parent.glob(".edgelstm-*")), "staging folder left beside the output"
