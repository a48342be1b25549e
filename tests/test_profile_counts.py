"""Counts against closed-form formulas, target profiles, and the latency/energy/fit arithmetic.

Pure math on hand-built ModelDescs: no TensorFlow, runs in a second.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgelstm.errors import TargetError
from edgelstm.ir import BidirectionalLayer, Conv1DLayer, DenseLayer, DepthwiseConv1DLayer, ModelDesc, RecurrentLayer
from edgelstm.profile import count_model, profile
from edgelstm.profile import targets as tg
from edgelstm.profile.estimate import estimate

RNG = np.random.default_rng(0)


def rnn(cell: str, i: int, h: int, seq: bool = False, reset_after: bool = True, name: str = "",
        backwards: bool = False) -> RecurrentLayer:
    g = 4 if cell == "lstm" else 3
    bias_shape = (2, g * h) if (cell == "gru" and reset_after) else (g * h,)
    return RecurrentLayer(name or f"{cell}{i}x{h}", cell, h, i, seq, RNG.normal(size=(i, g * h)).astype(np.float32),
                          RNG.normal(size=(h, g * h)).astype(np.float32), RNG.normal(size=bias_shape).astype(np.float32),
                          go_backwards=backwards, reset_after=reset_after)


def dense(i: int, o: int, act: str = "softmax", td: bool = False) -> DenseLayer:
    return DenseLayer(f"dense{i}x{o}", o, i, act, RNG.normal(size=(i, o)).astype(np.float32),
                      RNG.normal(size=o).astype(np.float32), td)


def model(*layers, T: int = 20, F: int = 6) -> ModelDesc:
    return ModelDesc("m", T, F, tuple(layers))


@pytest.mark.parametrize("i,h,T", [(6, 16, 100), (3, 7, 13), (1, 1, 1)])
def test_lstm_closed_form(i, h, T):
    c = count_model(model(rnn("lstm", i, h), T=T, F=i), "int8")
    l = c["layers"][0]
    assert l["macs_per_step"] == 4 * h * (i + h)
    assert l["macs"] == 4 * h * (i + h) * T
    assert set(l["gates"]) == {"input", "forget", "cell", "output"}
    for g in l["gates"].values():
        assert (g["input_macs_per_step"], g["recurrent_macs_per_step"], g["bias_adds_per_step"]) == (h * i, h * h, h)
    assert l["elementwise_per_step"] == {"bias_add": 4 * h, "gate_add": 4 * h, "sigmoid": 3 * h, "tanh": 2 * h,
                                         "mul": 3 * h, "add": h, "sub": 0, "softmax": 0, "relu": 0, "max": 0,
                                         "rsqrt": 0}
    assert l["params"] == 4 * h * (i + h) + 4 * h
    # int8: int8 weights, int32 biases, 8 B of quant params per output channel of 8 matrices
    assert l["weight_bytes"] == 4 * h * (i + h) + 4 * 4 * h + 8 * 8 * h
    assert l["state_bytes"] == h * 1 + h * 2  # int8 hidden state, int16 cell state (TFLite Micro)
    assert l["scratch_bytes"] == 4 * h * 2


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("i,h,T", [(6, 16, 100), (5, 3, 7)])
def test_gru_closed_form_both_modes(i, h, T, reset_after):
    c = count_model(model(rnn("gru", i, h, reset_after=reset_after), T=T, F=i), "float32")
    l = c["layers"][0]
    assert l["macs_per_step"] == 3 * h * (i + h) and l["macs"] == 3 * h * (i + h) * T
    assert set(l["gates"]) == {"update", "reset", "candidate"}
    keras_biases = sum(g["bias_adds_per_step"] for g in l["gates"].values())
    assert keras_biases == (6 * h if reset_after else 3 * h)
    for g in l["gates"].values():
        assert g["recurrent_bias_adds_per_step"] == (h if reset_after else 0)
    ew = l["elementwise_per_step"]
    # reset_after: z and r biases pre-summed (2h) + candidate input and recurrent biases (2h) = 4h executed
    assert ew["bias_add"] == (4 * h if reset_after else 3 * h)
    assert (ew["gate_add"], ew["sigmoid"], ew["tanh"], ew["mul"], ew["sub"], ew["add"]) == (3 * h, 2 * h, h, 2 * h, h, h)
    assert l["params"] == 3 * h * (i + h) + (6 * h if reset_after else 3 * h)
    assert l["weight_bytes"] == 4 * l["params"]  # float32: everything 4 bytes, no quant params
    assert l["state_bytes"] == 4 * h


def test_not_the_known_wrong_gru_count():
    """A popular MCU library reports 3ih + 8h^2 + 11h for a GRU step; the kernels execute 3h(i+h) MACs."""
    i, h = 6, 16
    c = count_model(model(rnn("gru", i, h), F=i))["layers"][0]["macs_per_step"]
    assert c == 3 * h * (i + h) == 1056
    assert c != 3 * i * h + 8 * h * h + 11 * h


def test_stacked_and_dense():
    T, F = 50, 6
    desc = model(rnn("lstm", F, 32, seq=True), rnn("gru", 32, 16, reset_after=False), dense(16, 8, "relu"),
                 dense(8, 4), T=T, F=F)
    c = count_model(desc, "int8")
    a, b, d1, d2 = c["layers"]
    assert a["macs"] == 4 * 32 * (F + 32) * T
    assert b["macs"] == 3 * 16 * (32 + 16) * T
    assert (d1["macs"], d1["calls"], d2["macs"]) == (16 * 8, 1, 8 * 4)
    assert d1["elementwise"]["relu"] == 8 and d2["elementwise"]["softmax"] == 4
    tot = c["totals"]
    assert tot["macs"] == a["macs"] + b["macs"] + 16 * 8 + 8 * 4
    assert tot["recurrent_macs_per_step"] == 4 * 32 * 38 + 3 * 16 * 48
    assert tot["stream_macs_per_step"] == tot["recurrent_macs_per_step"] + 16 * 8 + 8 * 4
    assert tot["params"] == desc.params
    # activations, int8: the widest boundary is layer 0 (input T*F in, T*32 sequence out)
    assert tot["activation_bytes"] == T * F + T * 32
    assert tot["state_bytes"] == (32 + 2 * 32) + 16
    assert tot["scratch_bytes"] == 4 * 32 * 2
    assert tot["model_ram_bytes"] == tot["activation_bytes"] + tot["state_bytes"] + tot["scratch_bytes"]


def test_time_distributed_dense_counts_T_times():
    T = 30
    c = count_model(model(rnn("lstm", 6, 8, seq=True), dense(8, 3, "linear", td=True), T=T))
    d = c["layers"][1]
    assert (d["calls"], d["macs"], d["macs_per_step"]) == (T, 8 * 3 * T, 8 * 3)
    assert d["elementwise"]["bias_add"] == 3 * T


def dwconv(i: int, mult: int, k: int, stride: int = 1, dilation: int = 1, padding: str = "valid",
           act: str = "linear") -> DepthwiseConv1DLayer:
    return DepthwiseConv1DLayer(f"dw{i}x{mult}", i, mult, k, stride, dilation, padding, act,  # type: ignore[arg-type]
                                RNG.normal(size=(k, i, mult)).astype(np.float32),
                                RNG.normal(size=i * mult).astype(np.float32))


# (T, kernel, stride, dilation, padding) -> (output steps, taps that fall in the padding)
@pytest.mark.parametrize("T,k,s,d,padding,out,padded", [
    (20, 3, 1, 1, "valid", 18, 0),
    (20, 3, 2, 1, "same", 10, 1),  # 20 -> 10: pad total 1, all after: the last window reads step 20
    (20, 3, 1, 2, "same", 20, 4),  # effective kernel 5: 2 steps each side, outputs 0, 1, 18, 19 lose one tap
    (7, 4, 1, 1, "same", 7, 1 + 1 + 2),  # pad 3: 1 before (output 0 loses a tap), 2 after (outputs 5, 6 lose 1, 2)
])
def test_depthwise_closed_form(T, k, s, d, padding, out, padded):
    """Depthwise MACs: the taps inside the input x channels x depth_multiplier (each output channel reads
    one input channel); SeparableConv1D's pointwise half is a kernel-1 Conv1D: steps x (in x mult) x filters."""
    i, mult, filters = 3, 2, 5
    dw = dwconv(i, mult, k, s, d, padding, "relu")
    pw = Conv1DLayer("pw", filters, i * mult, 1, 1, 1, "valid", "linear",
                     RNG.normal(size=(1, i * mult, filters)).astype(np.float32), np.zeros(filters, np.float32))
    desc = model(dw, pw, rnn("lstm", filters, 4), T=T, F=i)
    assert desc.seq_lens() == [T, out, out]
    assert "dwconv1d" in desc.stream_blocker and not desc.streamable
    c = count_model(desc, "int8")
    a, b, _ = c["layers"]
    assert (a["type"], a["calls"], a["out_len"], a["depth_multiplier"]) == ("dwconv1d", out, out, mult)
    assert a["macs"] == (out * k - padded) * i * mult
    assert a["elementwise"]["bias_add"] == a["elementwise"]["relu"] == out * i * mult
    assert b["macs"] == out * i * mult * filters
    assert a["params"] == k * i * mult + i * mult
    # int8: int8 weights, int32 biases, 8 B of quant params per output channel
    assert a["weight_bytes"] == k * i * mult + 4 * i * mult + 8 * i * mult
    assert c["totals"]["macs"] == a["macs"] + b["macs"] + 4 * 4 * (filters + 4) * out  # LSTM(4) over the out steps


@pytest.mark.parametrize("merge,extra", [("concat", {}), ("sum", {"add": 1}), ("ave", {"add": 1, "mul": 1}),
                                         ("mul", {"mul": 1})])
def test_bidirectional_both_directions(merge, extra):
    i, h, T = 6, 10, 40
    bl = BidirectionalLayer("bi", rnn("lstm", i, h, seq=True), rnn("lstm", i, h, seq=True, backwards=True), merge)
    out = 2 * h if merge == "concat" else h
    c = count_model(model(bl, dense(out, 4, td=True), T=T, F=i), "int8")
    l = c["layers"][0]
    assert l["directions"] == 2
    assert l["macs_per_step"] == 2 * 4 * h * (i + h) and l["macs"] == 2 * 4 * h * (i + h) * T
    assert l["gates"]["forget"]["recurrent_macs_per_step"] == 2 * h * h
    assert l["elementwise"]["sigmoid"] == 2 * 3 * h * T
    base = {"add": 2 * h * T, "mul": 2 * 3 * h * T}
    for op, k in extra.items():
        base[op] += k * h * T  # the merge, once per timestep (return_sequences)
    assert (l["elementwise"]["add"], l["elementwise"]["mul"]) == (base["add"], base["mul"])
    assert l["state_bytes"] == 2 * (h + 2 * h)
    assert c["totals"]["macs"] == l["macs"] + out * 4 * T


@pytest.mark.parametrize("quant,wb,bb", [("int8", 1, 4), ("int16x8", 1, 8), ("float16", 2, 2), ("float32", 4, 4),
                                         ("dynamic", 1, 4)])
def test_storage_by_quant(quant, wb, bb):
    i, h = 4, 8
    l = count_model(model(rnn("lstm", i, h), F=i), quant)["layers"][0]
    st = l["storage"]
    assert st["weight_bytes"] == 4 * h * (i + h) * wb
    assert st["bias_bytes"] == 4 * h * bb
    assert st["qparam_bytes"] == (0 if quant.startswith("float") else 8 * 8 * h)


def test_unknown_quant():
    with pytest.raises(TargetError, match="--quant"):
        count_model(model(rnn("lstm", 6, 4)), "int4")


# ---- target profiles -------------------------------------------------------------------------------------------

BUNDLED = ("cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55", "host")


def test_all_bundled_profiles_load_with_sources():
    names = tg.available()
    assert set(BUNDLED) <= set(names)
    for n in BUNDLED:
        t = tg.load_target(n)
        assert t.name == n and t.clock_mhz > 0 and t.flash_bytes > 0 and t.sram_bytes > 0
        assert t.sources.get("chip") and t.sources.get("power"), n
        text = t.path.read_text()
        # every figure carries a comment or a source string
        assert text.count("#") >= 10
        assert "[calibration]" in text and "[toolchain]" in text
    boards = {n: tg.load_target(n).toolchain.get("qemu_machine") for n in BUNDLED}
    assert boards["cortex-m3"] == "mps2-an385" and boards["cortex-m4"] == "mps2-an386"
    assert boards["cortex-m7"] == "mps2-an500" and boards["cortex-m33"] == "mps2-an505"
    assert "-mcpu=cortex-m4" in tg.load_target("cortex-m4").toolchain["cflags"]
    assert tg.load_target("cortex-m4").pj_per_cycle == pytest.approx(79 * 3.0)


def _copy(tmp_path: Path, name: str = "cortex-m4") -> Path:
    dst = tmp_path / "chip.toml"
    shutil.copy(tg.PROFILES_DIR / f"{name}.toml", dst)
    return dst


def test_missing_and_invalid_keys_are_named(tmp_path):
    p = _copy(tmp_path)
    p.write_text(p.read_text().replace("clock_mhz = 80", ""))
    with pytest.raises(TargetError, match="chip.clock_mhz"):
        tg.load_target(str(p))
    p = _copy(tmp_path)
    p.write_text(p.read_text().replace("mac = 7.0", 'mac = "fast"', 1))
    with pytest.raises(TargetError, match="cycles.int8.mac"):
        tg.load_target(str(p))
    p = _copy(tmp_path)
    p.write_text(p.read_text().replace("sram_kb = 40", "sram_kb = -1"))
    with pytest.raises(TargetError, match="chip.sram_kb.*> 0"):
        tg.load_target(str(p))
    p.write_text("name = [")
    with pytest.raises(TargetError, match="not valid TOML"):
        tg.load_target(str(p))
    with pytest.raises(TargetError, match="unknown target 'cortex-m99'.*cortex-m4"):
        tg.load_target("cortex-m99")
    with pytest.raises(TargetError, match="not found"):
        tg.load_target(str(tmp_path / "nope.toml"))


def _tiny_target(tmp_path: Path, **repl: str) -> tg.Target:
    """A profile with round numbers: 10 MHz, 2 cycles/MAC, 1 cycle per elementwise op, no overhead."""
    text = (tg.PROFILES_DIR / "cortex-m4.toml").read_text()
    import re

    text = text.replace("clock_mhz = 80", "clock_mhz = 10")
    text = re.sub(r"^(mac) = .*$", r"\1 = 2.0", text, flags=re.M)
    text = re.sub(r"^(bias_add|gate_add|add|sub|mul|sigmoid|tanh|softmax|relu) = .*$", r"\1 = 1", text, flags=re.M)
    text = re.sub(r"^overhead_per_layer_step = .*$", "overhead_per_layer_step = 0", text, flags=re.M)
    for k, v in repl.items():
        text = re.sub(rf"^{k} = .*$", f"{k} = {v}", text, flags=re.M)
    p = tmp_path / "tiny.toml"
    p.write_text(text)
    return tg.load_target(str(p))


def test_estimate_arithmetic_exact(tmp_path):
    t = _tiny_target(tmp_path)
    i, h, T = 6, 16, 100
    c = count_model(model(rnn("lstm", i, h), dense(h, 4), T=T, F=i), "int8")
    r = estimate(c, t)
    macs = 4 * h * (i + h) * T + h * 4
    ew = (4 + 4 + 3 + 2 + 3 + 1) * h * T + 4 + 4  # LSTM per step, dense bias + softmax
    assert r["cycles"] == 2 * macs + ew
    assert r["latency_us"] == pytest.approx((2 * macs + ew) / 10)
    assert r["latency_per_step_us"] == pytest.approx(r["latency_us"] / T)
    assert r["energy_uj"] == pytest.approx((2 * macs + ew) * 79 * 3.0 * 1e-6)
    # op-level: int8 MAC = int8 mult + int32 add; one 32-bit SRAM read per 4 bytes of weight + activation
    op = r["energy"]["op_level_breakdown_uj"]
    assert op["compute_uj"] == pytest.approx(macs * (0.2 + 0.1) * 1e-6)
    assert op["memory_uj"] == pytest.approx(macs * 2 / 4 * 5.0 * 1e-6)
    assert r["flash_bytes"] == c["totals"]["weight_bytes"] + 8192
    assert r["fits"] and not r["warnings"]


def test_over_budget_warns(tmp_path):
    t = _tiny_target(tmp_path, sram_kb="1", flash_kb="2")
    c = count_model(model(rnn("lstm", 6, 64), dense(64, 4), T=100), "int8")
    r = estimate(c, t)
    assert not r["fits"] and not r["fits_ram"] and not r["fits_flash"]
    assert any("RAM over budget" in w for w in r["warnings"]) and any("flash over budget" in w for w in r["warnings"])


def _per_mac_only(p: Path) -> Path:
    """The profile without make bench's [calibration.kernels] (so --calibrated uses the per-MAC figure)."""
    text = p.read_text()
    if "[calibration.kernels]" in text:
        p.write_text(text[:text.index("[calibration.kernels]")])
    return p


def test_calibration_roundtrip(tmp_path):
    p = _per_mac_only(_copy(tmp_path))
    # start uncalibrated whatever the repository's profile holds (make bench writes a measurement)
    p.write_text(re.sub(r"(?m)^instructions_per_mac = .*$", "instructions_per_mac = 0.0", p.read_text()))
    before = tg.load_target(str(p))
    assert before.calibrated_instructions_per_mac is None
    tg.write_calibration(str(p), 5.3, 'edgelstm run "demo" on mps2-an386', cycles_per_instruction=1.25)
    t = tg.load_target(str(p))
    assert t.calibrated_instructions_per_mac == 5.3 and t.calibration["cycles_per_instruction"] == 1.25
    assert t.cycles == before.cycles and t.clock_mhz == before.clock_mhz  # nothing else touched
    c = count_model(model(rnn("gru", 6, 8)), "int8")
    assert estimate(c, t, calibrated=True)["cycles_per_mac"] == pytest.approx(5.3 * 1.25)
    assert estimate(c, t, calibrated=False)["cycles_per_mac"] == 7.0
    r = estimate(c, before, calibrated=True)
    assert r["cycles_per_mac"] == 7.0 and any("--calibrated" in w for w in r["warnings"])


def test_profile_api_shape():
    desc = model(rnn("lstm", 6, 16), dense(16, 4), T=100)
    r = profile(desc, ["cortex-m4", "cortex-m0plus"], quant="int8", seq_len=50)
    assert r["seq_len"] == 50 and r["quant"] == "int8"
    for k in ("model", "seq_len", "quant", "layers", "totals", "targets"):
        assert k in r
    for k in ("macs", "params", "weight_bytes", "ram_bytes", "flash_bytes"):
        assert k in r["totals"]
    l = r["layers"][0]
    for k in ("name", "type", "units", "input_size", "gates", "macs_per_step", "macs", "params", "weight_bytes",
              "state_bytes"):
        assert k in l
    assert set(l["gates"]["input"]) >= {"macs_per_step", "input_macs_per_step", "recurrent_macs_per_step"}
    assert r["totals"]["macs"] == 4 * 16 * 22 * 50 + 64
    for t in ("cortex-m4", "cortex-m0plus"):
        assert set(r["targets"][t]) >= {"latency_us", "energy_uj", "fits"}
    # the M0+ has no FPU and a slower MAC: slower than the M4 on the same work
    assert r["targets"]["cortex-m0plus"]["cycles"] > r["targets"]["cortex-m4"]["cycles"]


def test_measured_calibration_is_all_inclusive(tmp_path):
    """A measured instructions/MAC (edgelstm run) already holds the elementwise work and the
    per-step overhead: calibrated cycles are MACs x that figure x CPI, nothing added."""
    p = _per_mac_only(_copy(tmp_path))
    tg.write_calibration(str(p), 14.5, "edgelstm run", cycles_per_instruction=1.0)
    t = tg.load_target(str(p))
    c = count_model(model(rnn("lstm", 6, 16), dense(16, 4), T=100), "int8")
    assert estimate(c, t, calibrated=True)["cycles"] == pytest.approx(c["totals"]["macs"] * 14.5, abs=1)
    assert estimate(c, t, calibrated=False)["cycles"] > c["totals"]["macs"] * t.cycles["int8"]["mac"]
