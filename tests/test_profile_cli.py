"""``edgelstm profile`` end to end: report files, --json, --strict, user target files, and the HTML in chromium."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from edgelstm.profile import targets as tg


# Runs the real cli.main; registers the profile command if cli.py does not list it (yet).
_SCRIPT = ("import sys\nfrom edgelstm import cli\n"
           "if 'edgelstm.profile.command' not in cli.COMMAND_MODULES:\n"
           "    cli.COMMAND_MODULES = cli.COMMAND_MODULES + ('edgelstm.profile.command',)\n"
           "sys.exit(cli.main(sys.argv[1:]))\n")
MCU_TARGETS = "cortex-m0plus,cortex-m4,cortex-m7,cortex-m33,cortex-m55"


def edgelstm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _SCRIPT, *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def demo_report(lstm_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    proc = edgelstm("profile", "--demo", "lstm", "--target", MCU_TARGETS, "-o", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, proc


def test_demo_writes_the_three_reports_and_pngs(demo_report, lstm_model):
    out, proc = demo_report
    for name in ("report.json", "report.md", "report.html", "gates.png", "targets.png", "seqlen.png"):
        assert (out / name).stat().st_size > 0, name
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rep = json.loads((out / "report.json").read_text())
    desc = lstm_model.desc
    h, i, T = desc.layers[0].units, desc.input_size, desc.seq_len
    assert rep["totals"]["macs"] == 4 * h * (i + h) * T + desc.layers[1].input_size * desc.layers[1].units
    assert list(rep["targets"]) == MCU_TARGETS.split(",")
    md = (out / "report.md").read_text()
    assert "| layer | type |" in md and "| cortex-m4 |" in md and f"{rep['totals']['macs']:,}" in md
    assert "cortex-m4" in proc.stdout and "MACs per inference" in proc.stdout


def test_json_on_stdout_has_the_documented_shape(tmp_path):
    proc = edgelstm("profile", "lstm:16,dense:4@100/6", "--target", "cortex-m4", "--json", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rep = json.loads(proc.stdout)
    assert (rep["seq_len"], rep["quant"]) == (100, "int8")
    l = rep["layers"][0]
    assert l["gates"]["forget"] == {**l["gates"]["forget"], "macs_per_step": 16 * 22, "input_macs_per_step": 16 * 6,
                                    "recurrent_macs_per_step": 256}
    assert rep["totals"]["macs"] == 4 * 16 * 22 * 100 + 64
    t = rep["targets"]["cortex-m4"]
    assert t["fits"] is True and t["latency_us"] > 0 and t["energy_uj"] > 0
    assert (tmp_path / "report.html").exists()


def test_seq_len_and_quant_options(tmp_path):
    proc = edgelstm("profile", "gru:8,dense:2@50/3", "--target", "cortex-m4", "--seq-len", "20", "--quant",
                    "float32", "--json", "--no-files")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rep = json.loads(proc.stdout)
    assert rep["seq_len"] == 20 and rep["quant"] == "float32" and rep["mac_dtype"] == "float32"
    assert rep["totals"]["macs"] == 3 * 8 * 11 * 20 + 16


def test_over_budget_warns_and_strict_fails(tmp_path):
    spec = "lstm:64,lstm:64,dense:4@200/6"
    proc = edgelstm("profile", spec, "--target", "cortex-m0plus,cortex-m4", "-o", str(tmp_path))
    assert proc.returncode == 0
    assert re.search(r"warning: cortex-m0plus: (flash|RAM) over budget", proc.stdout)
    assert "cortex-m4: " not in "".join(l for l in proc.stdout.splitlines() if "over budget" in l)
    proc = edgelstm("profile", spec, "--target", "cortex-m0plus", "--strict", "--no-files")
    assert proc.returncode == 5
    assert "error: the model does not fit cortex-m0plus" in proc.stderr


def test_bad_target_and_user_file(tmp_path):
    proc = edgelstm("profile", "lstm:4,dense:2@10/3", "--target", "cortex-m99", "--no-files")
    assert proc.returncode == 5 and "unknown target 'cortex-m99'" in proc.stderr
    mine = tmp_path / "mychip.toml"
    text = (tg.PROFILES_DIR / "cortex-m4.toml").read_text().replace('name = "cortex-m4"', 'name = "mychip"')
    mine.write_text(text.replace("sram_kb = 40", "sram_kb = 1"))
    proc = edgelstm("profile", "lstm:4,dense:2@10/3", "--target", str(mine), "--json", "--no-files")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["targets"]["mychip"]["ram_budget_bytes"] == 1024
    mine.write_text(text.replace("[power]", "[powr]"))
    proc = edgelstm("profile", "lstm:4,dense:2@10/3", "--target", str(mine), "--no-files")
    assert proc.returncode == 5 and "missing key 'power.ua_per_mhz'" in proc.stderr


def test_help():
    proc = edgelstm("profile", "--help")
    assert proc.returncode == 0 and "--strict" in proc.stdout and "--calibrated" in proc.stdout


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("chromium is not installed (make setup installs it); cannot check the HTML in a browser")
    return exe


def _browser(exe: str, *args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile_dir:
        return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                               "--disable-component-update", "--disable-sync", "--no-first-run",
                               f"--user-data-dir={profile_dir}", *args], capture_output=True, text=True, timeout=120)


def test_html_in_headless_chromium(demo_report, tmp_path):
    exe = _chromium()
    out, _ = demo_report
    url = (out / "report.html").resolve().as_uri()
    dom = _browser(exe, "--dump-dom", url).stdout
    # every embedded plot decoded in the browser (set by the page's load handler)
    assert 'data-plots-loaded="3"' in dom
    for table in ("targets", "layers", "gates", "elementwise"):
        assert f'<table id="{table}">' in dom, table
    targets_table = dom.split('<table id="targets">')[1].split("</table>")[0]
    assert targets_table.count("<tr>") == 1 + len(MCU_TARGETS.split(","))
    for img in ("plot-gates", "plot-targets", "plot-seqlen"):
        assert re.search(rf'<img id="{img}"[^>]*src="data:image/png;base64,', dom), img
    shot = tmp_path / "shot.png"
    _browser(exe, f"--screenshot={shot}", "--window-size=1200,2000", url)
    import matplotlib.image as mpimg

    px = mpimg.imread(shot)[..., :3]
    assert px.shape[:2] == (2000, 1200)
    # not blank: a good share of non-white pixels, and colour (the plots) somewhere
    nonwhite = (px.mean(axis=2) < 0.9).mean()
    colourful = (px.max(axis=2) - px.min(axis=2) > 0.25).mean()
    assert nonwhite > 0.05 and colourful > 0.01, (nonwhite, colourful)
    assert np.isfinite(px).all()
