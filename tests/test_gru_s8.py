"""Fused int8 GRU step (issue 11): one gru_step_s8 call per GRU layer computes exactly the int8
values of the lowered step graph's ops (both reset_after modes), so exports stay bit-exact with
TensorFlow Lite Micro while the per-op kernels disappear from the generated C.

Five models are exported through the CLI, two at a time, (a GRU + Dense head in both reset_after modes,
stacked GRUs, a GRU with return_sequences, an LSTM feeding a GRU): the export's host check
(plain C path, hx_run and hx_step) must find 0 mismatches, the generated C must call
gru_step_s8 for every GRU layer and no per-op kernel for it, and the DSP path runs bit-exact on
QEMU's Cortex-M4. The arithmetic is checked apart from the C: the numpy model of the kernel
(GruS8.reference) against the lowered ops computed with TFLite's formulas (reference_ops), the
kernel's one-step requantization against TFLite's two roundings (in C and on every parameter of
the exported layers), and the fallback: a layer the kernel cannot hold stays op by op."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, shared_folder

from edgelstm.export import fusion, gru_s8
from edgelstm.export.graph import read_graph
from edgelstm.export.toolchain import RUNTIME


EXPORTS = {  # name: (spec, variant, GRU layer indices, Dense layer count)
    "gru": ("gru:8,dense:3@12/4", "stateful", [0], 1),
    "gru_v1": ("gru_v1:8,dense:3@12/4", "stateful", [0], 1),
    "stacked": ("gru:8+seq,gru:6,dense:3@10/4", "stateful", [0, 1], 1),
    "sequences": ("gru:6+seq,dense:2@8/3", "stateful", [0], 1),
    "mixed": ("lstm:6+seq,gru_v1:5,dense:3@8/4", "stateful", [1], 1),
}
PER_OP = ("add_s8(", "sub_s8(", "mul_s8(", "lut_s8(")


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    """The models exported by the installed CLI, two at a time (once per run, see shared_folder)."""
    def build(root: Path) -> None:
        exe = str(Path(sys.executable).with_name("edgelstm"))
        names, running = list(EXPORTS), []
        while names or running:
            while names and len(running) < 2:
                name = names.pop(0)
                spec, variant, _, _ = EXPORTS[name]
                cmd = [exe, "export", spec, "--synthetic-calib", "--quant", "int8", "--variant", variant,
                       "--target", "cortex-m4", "-o", str(root / name)]
                running.append((name, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                       text=True)))
            name, proc = running.pop(0)
            _, err = proc.communicate(timeout=900)
            assert proc.returncode == 0, f"export of {name} failed:\n{err[-3000:]}"

    root = shared_folder(tmp_path_factory, "gru_s8", build)
    return {name: root / name for name in EXPORTS}


def _info(d: Path) -> dict:
    return json.loads((d / "export.json").read_text())


def _step_graph(d: Path):
    info = _info(d)
    return read_graph((d / info["files"]["step_tflite"]).read_bytes())


@pytest.mark.parametrize("name", list(EXPORTS))
def test_export_is_bit_exact_and_fused(name, exports):
    d = exports[name]
    info = _info(d)
    _, _, grus, denses = EXPORTS[name]
    # the export's own check: hx_run and hx_step against TFLite Micro, every output byte
    assert [(r["mode"], r["mismatches"]) for r in info["host_check"]] == [("run", 0), ("step", 0)]
    assert info["ops"].get("GRU_STEP") == len(grus)
    src = (d / "hx_model.c").read_text()
    for i in grus:
        assert src.count(f"el_gru_step_s8(&hx_l{i}_gru,") == 1
        # none of the layer's lowered ops is left: no per-gate FC, no gate ADD/SUB/MUL/LUT
        for gate in ("update", "reset", "candidate"):
            assert f"hx_l{i}_{gate}" not in src
    assert "runtime/src/gru_step_s8.c" in info["files"]["runtime"]
    if name == "mixed":  # the LSTM (layer 0) keeps its own kernels; SUB only occurs in a lowered GRU
        assert "sub_s8(" not in src and "hx_l0_" in src
    else:
        assert not [k for k in PER_OP if k in src], "per-op kernels left in a GRU-only model"
        assert src.count("fc_s8(&") == denses
        assert not [f for f in info["files"]["runtime"] if f.split("/")[-1].startswith(("add_s8", "lut_s8"))]


def test_more_vectors_bit_exact(exports):
    """Another draw of random inputs (and the extremes) through the stacked and v1 exports."""
    from edgelstm.export.check import check_host, make_vectors

    for name in ("stacked", "gru_v1"):
        d = exports[name]
        xs = make_vectors(_info(d), None, n_random=8, seed=7)
        assert [r.mismatches for r in check_host(d, xs)] == [0, 0], name


def test_dsp_path_bit_exact_on_cortex_m4(exports):
    for name in ("stacked", "gru_v1"):
        proc = run_cli("run", str(exports[name]), "--target", "cortex-m4", "--vectors", "3", "--json")
        r = json.loads(proc.stdout)
        assert r["mismatches"] == 0 and r["outputs_compared"] > 0, (name, r)
        assert r["instructions_per_inference"] > 0


def _layers(d: Path) -> list[tuple[gru_s8.GruOps, gru_s8.GruS8]]:
    g = _step_graph(d)
    out = []
    for roles in fusion._candidates(g).values():
        ops = fusion._match(g, roles, fusion._consumers(g))[0]
        out.append((ops, gru_s8.prepare(ops)))
    return out


@pytest.mark.parametrize("name", ["gru", "gru_v1", "stacked"])
def test_kernel_arithmetic_equals_the_lowered_ops(name, exports):
    """The kernel's integers (numpy model of gru_step_s8: tables, doubled accumulators, one-step
    requantization, grouped weights) equal the lowered ops computed with TFLite's formulas."""
    rng = np.random.default_rng(3)
    layers = _layers(exports[name])
    assert layers
    for ops, params in layers:
        xs = [rng.integers(-128, 128, ops.input_size) for _ in range(60)]
        hs = [rng.integers(-128, 128, ops.units) for _ in range(60)]
        xs += [np.full(ops.input_size, v) for v in (-128, 127, -128, 127)]
        hs += [np.full(ops.units, v) for v in (-128, 127, 127, -128)]
        for x, h in zip(xs, hs):
            assert np.array_equal(params.reference(x, h), gru_s8.reference_ops(ops, x, h))


def test_requantization_on_every_exported_parameter(exports):
    """el_gru_requantize equals TFLite's MultiplyByQuantizedMultiplier + zero point + saturation
    over the whole range the generator allows, for every requantization of the exported layers."""
    rng = np.random.default_rng(5)
    n = 0
    for name in ("gru", "gru_v1", "stacked"):
        for _, p in _layers(exports[name]):
            rqs = [r.rq for r in p.rows] + list(p.rq.values())
            for q in rqs:
                acc = np.concatenate([rng.integers(-2**29, 2**29, 2000), rng.integers(-4096, 4096, 2000)])
                shift = -q.rsh
                zp = (q.k - (1 << (q.rsh - 1))) >> q.rsh
                want = np.clip(gru_s8.requantize_tflm(acc, q.mult, shift) + zp, -128, 127)
                assert np.array_equal(gru_s8.requantize_fast(2 * acc, q), want)
                n += 1
    assert n > 100


_RQ_CHECK = r"""
#include <stdio.h>
#include <stdlib.h>
#include "el_fixedpoint.h"
#include "el_gru_s8.h"
static unsigned long long s = 88172645463325252ull;
static unsigned long long rnd(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s; }
static long bad = 0, n = 0;
static void one(int32_t acc, int32_t mult, int32_t shift, int32_t zp)
{
    const int32_t rsh = -shift;
    const el_gru_rq_t q = { mult, (1 << (rsh - 1)) + zp * (1 << rsh), rsh, 24 - rsh };
    const int32_t want = el_clamp_s32(el_requantize(acc, mult, shift) + zp, -128, 127);
    ++n;
    if (el_gru_requantize(2 * acc, &q) != want && bad++ < 5) {
        printf("acc %d mult %d shift %d zp %d\n", acc, mult, shift, zp);
    }
}
int main(void)
{
    const int32_t edge[] = { 1 << 30, (1 << 30) + 1, 0x7fffffff, 1518500250, 0 };
    for (int t = 0; t < 4000; ++t) {
        const int32_t mult = t < 5 ? edge[t] : (int32_t)((1u << 30) + (uint32_t)(rnd() % (1u << 30)));
        const int32_t shift = -1 - (int32_t)(rnd() % 22), zp = (int32_t)(rnd() % 256) - 128;
        for (int j = 0; j < 2000; ++j) {
            const int32_t lim = j & 1 ? (1 << 29) : 70000;
            one((int32_t)(rnd() % (2u * (uint32_t)lim)) - lim, mult, shift, zp);
        }
        /* values next to the rounding ties of both roundings */
        for (int j = 0; j < 200 && mult; ++j) {
            const double tie = ((double)(rnd() % 512) - 255.5) * (double)(1u << 31) * (double)(1u << -shift) / mult;
            for (int d = -2; d <= 2; ++d) {
                const double a = tie + d;
                if (a > -(1 << 29) && a < (1 << 29)) {
                    one((int32_t)a, mult, shift, zp);
                }
            }
        }
    }
    printf("%ld %ld\n", n, bad);
    return bad != 0;
}
"""


def test_requantization_identity_in_c(tmp_path):
    """The C of el_gru_requantize (host: the portable path) against el_requantize on 1e7 cases,
    edge multipliers and values around the ties of both of TFLite's roundings included."""
    src = tmp_path / "rq.c"
    src.write_text(_RQ_CHECK)
    exe = tmp_path / "rq"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{RUNTIME / 'include'}", str(src),
                    "-o", str(exe)], check=True, capture_output=True)
    r = subprocess.run([str(exe)], capture_output=True, text=True, check=False)
    n, bad = map(int, r.stdout.split()[-2:])
    assert r.returncode == 0 and bad == 0 and n > 9_000_000, r.stdout


@pytest.mark.parametrize("cpu,feature", [("cortex-m0plus", None), ("cortex-m3", None), ("cortex-m4", "smlad"),
                                         ("cortex-m7", "smlad"), ("cortex-m33", "smlad"), ("cortex-m55", "vmladava")])
def test_kernel_builds_for_every_core(cpu, feature, tmp_path):
    """One source for every core: the compiler's feature macros choose the path."""
    from edgelstm.profile.targets import load_target

    asm = tmp_path / "gru.s"
    cflags = load_target(cpu).toolchain["cflags"]  # the profile's flags (MVE needs the hard-float ABI)
    subprocess.run(["arm-none-eabi-gcc", *cflags, "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror",
                    f"-I{RUNTIME / 'include'}", "-S", str(RUNTIME / "src" / "gru_step_s8.c"), "-o", str(asm)],
                   check=True, capture_output=True)
    text = asm.read_text()
    if feature:
        assert feature in text
    else:
        assert "smlad" not in text and "vmladav" not in text


def test_weight_layout_round_trip():
    rng = np.random.default_rng(0)
    for n, cols in ((1, 1), (3, 5), (8, 12), (18, 7), (7, 33)):
        w = rng.integers(-128, 128, (n, cols)).astype(np.int8)
        flat = gru_s8.grouped(w)
        c4 = (cols + 3) // 4 * 4
        assert flat.size == n * c4
        assert np.array_equal(gru_s8.ungrouped(flat, n, c4)[:, :cols], w)
        # the first group's first chunk: one 4-byte word per row
        assert np.array_equal(flat[:4], np.pad(w[0], (0, max(0, 4 - cols)))[:4])


def test_unmatched_or_unfit_layers_stay_op_by_op(exports, monkeypatch):
    """Fusion never guesses: a layer the kernel cannot hold, or a graph that differs from the
    lowered GRU, keeps its ops (which the op-by-op path computes exactly)."""
    g = _step_graph(exports["stacked"])
    fused = fusion.fuse(g)
    assert [op.kind for op in fused.ops].count(fusion.GRU_STEP) == 2
    # an intermediate that is also a graph output
    hn = next(op.outputs[0] for op in g.ops if g.t(op.outputs[0]).name == "l1.hn")
    g2 = dataclasses.replace(g, outputs=g.outputs + [hn])
    assert [op.kind for op in fusion.fuse(g2).ops].count(fusion.GRU_STEP) == 1
    # an op with an unexpected operand order (SUB(n, h) instead of SUB(h, n))
    ops = list(g.ops)
    k = next(i for i, op in enumerate(ops) if g.t(op.outputs[0]).name == "l0.hn")
    ops[k] = dataclasses.replace(ops[k], inputs=ops[k].inputs[::-1])
    assert [op.kind for op in fusion.fuse(dataclasses.replace(g, ops=ops)).ops].count(fusion.GRU_STEP) == 1

    # parameters the kernel cannot hold (e.g. a rescale factor >= 0.5): no fusion at all
    def refuse(_ops):
        raise gru_s8.NotFusable("test")

    monkeypatch.setattr(gru_s8, "prepare", refuse)
    assert fusion.fuse(g) is g


def test_fallback_export_is_still_bit_exact(exports, tmp_path, monkeypatch):
    """The generator with fusion refused emits the per-op kernels, and they are bit-exact."""
    import shutil

    from edgelstm.export.cgen import Generator
    from edgelstm.export.check import check_host
    from edgelstm.export.files import copy_runtime, runtime_sources

    d = tmp_path / "fallback"
    shutil.copytree(exports["gru_v1"], d)
    monkeypatch.setattr(gru_s8, "prepare", lambda _ops: (_ for _ in ()).throw(gru_s8.NotFusable("test")))
    info = _info(d)
    graph = _step_graph(d)

    class Desc:  # what the generator reads of the model description
        seq_len = info["api"]["seq_len"]
        input_size = info["api"]["input_size"]
        output_is_sequence = info["api"]["output_is_sequence"]
        mask_value = None
        layers = ()

    gen = Generator(graph, Desc(), "hx", "step").generate("/* fallback */\n")
    assert "gru_step_s8" not in gen.source and "sub_s8(" in gen.source
    (d / "hx_model.c").write_text(gen.source)
    (d / "hx_model.h").write_text(gen.header)
    info["files"]["runtime"] = copy_runtime(d, runtime_sources(gen.kernels))
    (d / "export.json").write_text(json.dumps(info))
    assert [r.mismatches for r in check_host(d)] == [0, 0]
