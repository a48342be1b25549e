"""Issue 11: the kernel layer (edgelstm/export/kernels.py): the table covers the runtime, handlers declare
their kernel calls, and the backend of each target is the one its compiler flags select."""
from __future__ import annotations

import re

import pytest

from edgelstm.export import kernels
from edgelstm.export.cgen import _check_calls
from edgelstm.export.graph import Op
from edgelstm.export.ops import Emitted
from edgelstm.export.toolchain import RUNTIME
from edgelstm.profile.targets import load_target


def test_the_table_covers_every_runtime_source_and_header():
    sources = {p.name for p in (RUNTIME / "src").glob("*.c")}
    listed = {f for k in kernels.KERNELS.values() for f in k.files}
    assert sources == listed | set(kernels.REFERENCE_ONLY), sources ^ (listed | set(kernels.REFERENCE_ONLY))
    for k in kernels.KERNELS.values():
        header = (RUNTIME / "include" / k.header).read_text()
        assert re.search(rf"\b{k.symbol}\(", header), (k.symbol, k.header)
        if k.params:
            assert k.params in header, (k.name, k.params)
        src = (RUNTIME / "src" / f"{k.name}.c").read_text()
        for impl, macro in (("dsp", "__ARM_FEATURE_DSP"), ("mve", "__ARM_FEATURE_MVE")):
            assert (impl in k.impls) == (macro in src), (k.name, impl)  # an implementation the table names exists


@pytest.mark.parametrize("target,backend", [("cortex-m0plus", "ref"), ("cortex-m3", "ref"), ("cortex-m4", "dsp"),
                                            ("cortex-m7", "dsp"), ("cortex-m33", "dsp"), ("cortex-m55", "mve"),
                                            ("host", "ref")])
def test_backend_of_each_target(target, backend):
    tc = load_target(target).toolchain
    assert kernels.backend_of(tc) == backend
    assert kernels.KERNELS["lstm_step_s8"].implementation(backend) == backend
    assert kernels.KERNELS["fc_s8"].implementation(backend) == "ref"


def test_backend_of_flags():
    assert kernels.backend_of({"cflags": ["-mcpu=cortex-m55+nomve"]}) == "ref"
    assert kernels.backend_of({"cflags": ["-mcpu=cortex-m33+nodsp"]}) == "ref"
    assert kernels.backend_of({"backend": "dsp", "cflags": []}) == "dsp"
    with pytest.raises(ValueError, match="unknown backend"):
        kernels.backend_of({"backend": "neon"})


def test_calls_are_typed_and_declared():
    c = kernels.call("fc_s8", "&hx_fc", "x", "y")
    assert str(c) == "el_fc_s8(&hx_fc, x, y);"
    with pytest.raises(KeyError, match="not in export/kernels.py"):
        kernels.call("fc_s9", "x")
    op = Op(0, "FULLY_CONNECTED", [0], [1], None)
    _check_calls(op, Emitted.of("", c))
    with pytest.raises(RuntimeError, match="declares"):
        _check_calls(op, Emitted("", [str(c)]))  # a call the handler did not declare
