"""Generate <name>_model.h / <name>_model.c from the op graph of a .tflite.

The step function runs the graph's ops in order with the runtime's kernels. Memory is split in
two: the state struct (<name>_state_t) holds only what is carried between calls (h, c, ...);
the caller's scratch (<NAME>_SCRATCH_BYTES, not kept between calls, so models that never run at
the same time may share one) holds the kernels' work memory and, after it, the activation arena,
placed by a liveness-based planner so buffers whose lifetimes do not overlap share bytes.
Two graph shapes are handled:

  step      the stateful model: input x_t plus state inputs, outputs y plus new states
            (or state kept inside fused LSTM ops). <name>_step runs it once; <name>_run
            resets and steps HX_SEQ_LEN times.
  sequence  a whole-sequence graph (Bidirectional models): <name>_run only.

Models with Keras Masking (ModelDesc.mask_value; step graphs only) get <name>_masked(x_t):
<name>_step returns at once on a masked input (state untouched, y = the last output, kept in the
state struct), <name>_run skips masked steps. int8: masked = every feature equals the quantized
mask value (an input within half an input LSB of the mask value in every feature counts as
masked); float32: exact equality. No step at all: the reset output, 0.0 (int8: the zero point).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import UnsupportedCombination
from ..ir import ModelDesc
from .stream import Window
from . import fusion
from . import kernels as kernel_table
from . import ops as op_handlers
from .cformat import CTYPES, c_identifier
from .graph import Graph, Op
from .names import weight_names
from .ops import StateField

ALIGN = 8


def mask_input_value(mask_value: float, dtype: str, scale: float, zero_point: int) -> float | int:
    """The mask value as the model input holds it: int8 quantized with the input scale (saturating)."""
    if dtype == "int8":
        return int(np.clip(np.round(np.float32(mask_value) / np.float32(scale)) + zero_point, -128, 127))
    return float(np.float32(mask_value))


@dataclass
class Generated:
    header: str
    source: str
    arena_bytes: int
    state_bytes: int
    scratch_bytes: int  # kernel work memory + arena: <P>_SCRATCH_BYTES
    ops: list[str]
    weight_names: dict[int, str] = field(default_factory=dict)
    kernels: set[str] = field(default_factory=set)
    #: every kernel call in generated order: kernel, phase ("step": per timestep, "head": once per
    #: run) and what its handler noted (e.g. an LSTM layer's requantization mode); read by the profiler
    calls: list[dict] = field(default_factory=list)


class Generator:
    def __init__(self, graph: Graph, desc: ModelDesc, prefix: str, mode: str, window: Window | None = None) -> None:
        """mode "sequence" (the whole window per call) or "step"; ``window``: the step graph is the window
        graph of a convolutional front end (export.stream), fed from a ring of the last inputs in the state."""
        self.graph, self.desc, self.prefix, self.mode, self.window = graph, desc, prefix, mode, window
        self._reset_lines: list[str] = []
        self.states: list[StateField] = []
        self._state_init: dict[str, int] = {}
        self.kernel_scratch_bytes = 0  # the kernels' work memory at the start of the scratch
        self._op_names: dict[int, str] = {}  # op index -> C name of its parameters
        self._const_names: dict[int, str] = {}  # tensor index -> C name of a constant
        self._producers = graph.producers()
        self._used_names: set[str] = set()
        self._defined: set[int | str] = set()
        self._weights = weight_names(graph, desc)
        self._ptr: dict[int, str] = {}
        self.arena_bytes = 0
        self.calls: list[dict] = []  # Generated.calls
        self.kernels: set[str] = set()  # runtime kernels the generated code calls (export/kernels.py)
        self.scratch_needs: list[int] = []
        self.dtype = graph.t(graph.inputs[0]).dtype
        self.masked = desc.mask_value is not None
        if self.masked and mode != "step":
            raise UnsupportedCombination("a model with Masking needs the step graph (the sequence graph cannot skip "
                                         "masked steps); export it with --variant stateful")
        if self.dtype not in ("int8", "float32"):
            raise UnsupportedCombination(f"the C export handles int8 and float32 models, not {self.dtype} inputs")
        self.ctype = CTYPES[self.dtype]

    # ---- Context for the op handlers ------------------------------------------------------
    def ptr(self, tensor: int) -> str:
        return self._ptr[tensor]

    def first_use(self, key: int | str) -> bool:
        """True the first time a constant (tensor index or C name) is asked for: define it once."""
        if key in self._defined:
            return False
        self._defined.add(key)
        return True

    def _unique(self, base: str) -> str:
        base = c_identifier(f"{self.prefix}_{base}")
        name, k = base, 1
        while name in self._used_names:
            k += 1
            name = f"{base}_{k}"
        self._used_names.add(name)
        return name

    def weight_name(self, tensor: int) -> str:
        if tensor not in self._const_names:
            w = self._weights.get(tensor)
            if w is None:
                # a bias: named after the weight of the op that uses it
                for op in self.graph.ops:
                    if op.kind == "FULLY_CONNECTED" and len(op.inputs) > 2 and op.inputs[2] == tensor:
                        w = self._weights.get(op.inputs[1], f"t{op.inputs[1]}_w").replace("_w", "_b", 1)
                        break
            self._const_names[tensor] = self._unique(w or f"t{tensor}")
        return self._const_names[tensor]

    def op_name(self, op: Op) -> str:
        if op.index not in self._op_names:
            self._op_names[op.index] = self._unique(self._op_base(op))
        return self._op_names[op.index]

    def state(self, name: str, ctype: str, count: int, comment: str, init: int = 0) -> str:
        field_name = c_identifier(name[len(self.prefix) + 1:] if name.startswith(self.prefix + "_") else name)
        self.states.append(StateField(field_name, ctype, count, comment))
        if init:
            self._state_init[field_name] = init
        return f"s->{field_name}"

    def scratch(self, ctype: str, count: int) -> str:
        self.kernel_scratch_bytes = max(self.kernel_scratch_bytes, _ITEMSIZE[ctype] * count)
        return f"(({ctype} *)scratch)"

    @property
    def arena_offset(self) -> int:
        """Where the activation arena starts in the scratch: after the kernels' work memory."""
        return -(-self.kernel_scratch_bytes // ALIGN) * ALIGN

    @property
    def scratch_bytes(self) -> int:
        return self.arena_offset + -(-self.arena_bytes // ALIGN) * ALIGN

    # ---- naming -------------------------------------------------------------------------
    def _op_base(self, op: Op) -> str:
        if op.kind == "FULLY_CONNECTED":
            w = self._weights.get(op.inputs[1])
            return w.replace("_w_", "_").replace("_dense_w", "_dense") if w else f"fc{op.index}"
        if op.kind == "UNIDIRECTIONAL_SEQUENCE_LSTM":
            w = self._weights.get(op.inputs[1])
            return (w.split("_")[0] if w else f"lstm{op.index}") + "_lstm"
        for i in op.inputs:
            p = self._producers.get(i)
            if p is not None:
                base = self._op_names.get(p.index, "")[len(self.prefix) + 1:]
                if base:
                    stem = "_".join(base.split("_")[:2])
                    return f"{stem}_{op.kind.lower()}"
        return f"{op.kind.lower()}{op.index}"

    # ---- planning -----------------------------------------------------------------------
    def _plan(self) -> None:
        g = self.graph
        x_in = g.inputs[0]
        self._ptr[x_in] = "x"
        if self.window is not None:  # the graph reads the ring of the last R inputs
            x = g.t(x_in)
            self.states.append(StateField("window", CTYPES[x.dtype], x.size,
                                          f"the last {self.window.rows} inputs, oldest first (ring for the front end)"))
            if x.q_zero_point:
                self._state_init["window"] = x.q_zero_point
            self.states.append(StateField("countdown", "int32_t", 1,
                                          f"inputs until the next recurrent step (every {self.window.stride})"))
            self._reset_lines.append(f"    s->countdown[0] = {self.window.rows};   /* the first window: "
                                     f"{self.window.rows} inputs */")
            self._ptr[x_in] = "s->window"
        for k, i in enumerate(g.inputs[1:]):
            t = g.t(i)
            name = c_identifier(t.name[len("state_"):] if t.name.startswith("state_") else f"state{k}")
            self.states.append(StateField(name, CTYPES[t.dtype], t.size,
                                          f"state input '{t.name}'" + (f", scale {t.q_scale:.6g}, zp {t.q_zero_point}"
                                                                        if t.scale.size else "")))
            if t.q_zero_point:
                self._state_init[name] = t.q_zero_point
            self._ptr[i] = f"s->{name}"
        last_use: dict[int, int] = {}
        first: dict[int, int] = {}
        end = len(g.ops)
        for op in g.ops:
            for i in op.inputs:
                if i >= 0:
                    last_use[i] = op.index
            for o in op.outputs:
                first.setdefault(o, op.index)
        for o in g.outputs:
            last_use[o] = end
        placed: list[tuple[int, int, int, int]] = []  # offset, size, start, stop
        for o in sorted(first, key=lambda t: first[t]):
            t = g.t(o)
            if t.is_const or o in self._ptr:
                continue
            start, stop = first[o], last_use.get(o, first[o])
            size = (t.nbytes + ALIGN - 1) // ALIGN * ALIGN
            live = sorted((p for p in placed if not (p[3] < start or p[2] > stop)), key=lambda p: p[0])
            off = 0
            for p_off, p_size, _, _ in live:
                if off + size <= p_off:
                    break
                off = max(off, p_off + p_size)
            placed.append((off, size, start, stop))
            self.arena_bytes = max(self.arena_bytes, off + size)
            self._ptr[o] = f"(({CTYPES[t.dtype]} *)(a + {off}))"

    # ---- output -------------------------------------------------------------------------
    def generate(self, banner: str) -> Generated:
        # fusion.py: groups of int8 ops one kernel computes (a lowered GRU layer -> GRU_STEP), named after their layer
        g = self.graph = fusion.fuse(self.graph) if self.dtype == "int8" else self.graph
        for op in g.ops:
            if op.kind in fusion.FUSED_KINDS:
                self._op_names[op.index] = self._unique(op.options.c_name)
        self._plan()
        if self.masked or self.window is not None:
            y = g.t(g.outputs[0])
            why = "masked steps" if self.masked else "inputs that complete no window"
            self.states.append(StateField("last_y", CTYPES[y.dtype], y.size,
                                          f"the last output, returned for {why} (reset: 0.0)"))
            if y.q_zero_point:
                self._state_init["last_y"] = y.q_zero_point
        head = self._head_ops()
        defs, body, tail, kinds = [], [], [], []
        for op in g.ops:
            if op.kind in ("DELEGATE", fusion.ABSORBED):
                continue
            e = op_handlers.emit(self, op)
            _check_calls(op, e)
            self.kernels |= {c.kernel for c in e.calls}
            self.calls += [{"kernel": c.kernel, "phase": "head" if op.index in head else "step", **c.note}
                           for c in e.calls]
            self.scratch_needs.append(max((c.scratch_bytes for c in e.calls), default=0))
            name = self._op_names.get(op.index, op.kind.lower())
            y = g.t(op.outputs[0])
            kinds.append(op.kind)
            if e.definitions:
                defs.append(e.definitions)
            out = tail if op.index in head else body
            out.append(f"    /* {op.kind} -> {name.removeprefix(self.prefix + '_')} {list(y.shape)} */")
            out += ["    " + c for c in e.code]
        return self._files(banner, defs, body, kinds, tail)

    def _head_ops(self) -> set[int]:
        """Ops of a step graph that only compute the output from the last recurrent output (a Dense head):
        <name>_run runs them once, after the last step, unless the model returns a sequence.

        An op belongs to the recurrent body if it keeps state (the fused LSTM's variable tensors, a fused
        GRU) or feeds a state output or a body op."""
        g = self.graph
        if self.mode != "step" or self.desc.output_is_sequence:
            return set()
        stateful = ("UNIDIRECTIONAL_SEQUENCE_LSTM", *fusion.FUSED_KINDS)
        needed = set(g.outputs[1:])  # tensors the body must produce: the new states
        body: set[int] = set()
        for op in reversed(g.ops):
            if op.kind in stateful or needed & set(op.outputs):
                body.add(op.index)
                needed |= {i for i in op.inputs if i >= 0}
        return {op.index for op in g.ops if op.index not in body and op.kind not in ("DELEGATE", fusion.ABSORBED)}

    def _files(self, banner: str, defs: list[str], body: list[str], kinds: list[str],
               tail: list[str]) -> Generated:
        g, P, p = self.graph, self.prefix.upper(), self.prefix
        x, y = g.t(g.inputs[0]), g.t(g.outputs[0])
        step = self.mode == "step"
        d = self.desc
        out_steps = d.seq_len if d.output_is_sequence else 1
        out_size = y.size if step else y.size // out_steps
        ct = self.ctype
        abi = kernel_table.RUNTIME_ABI_VERSION
        lines = [banner, f"#ifndef {P}_MODEL_H", f"#define {P}_MODEL_H", "", "#include <stdint.h>", "",
                 '#include "edgelstm.h" /* the runtime (its headers are C++-safe) */', "",
                 "/* The runtime ABI this model was generated for: compile it with the runtime/ of an export made",
                 " * by the same edgelstm version (one copy of runtime/ serves every export of that version). */",
                 f"#define {P}_RUNTIME_ABI_VERSION {abi}",
                 f"#if !defined(EL_RUNTIME_ABI_VERSION) || EL_RUNTIME_ABI_VERSION != {P}_RUNTIME_ABI_VERSION",
                 f'#error "{p}_model: generated for edgelstm runtime ABI {abi}, but the edgelstm.h found on the '
                 'include path has another ABI; use the runtime/ of an export made by the same edgelstm version"',
                 "#endif", "",
                 "/* Placement of the constant weights and parameters: override with -D, e.g.",
                 f" * -D{P}_WEIGHTS_SECTION='__attribute__((section(\".rodata.nn\")))' or -D{P}_ALIGN(n)= */",
                 f"#ifndef {P}_WEIGHTS_SECTION", f"#define {P}_WEIGHTS_SECTION", "#endif",
                 f"#ifndef {P}_ALIGN", f"#define {P}_ALIGN(n) EL_ALIGNED(n)", "#endif", "",
                 "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
                 f"#define {P}_SEQ_LEN {d.seq_len}", f"#define {P}_INPUT_SIZE {d.input_size}",
                 f"#define {P}_OUTPUT_SIZE {out_size}",
                 f"#define {P}_OUTPUT_STEPS {out_steps}   /* outputs written by {p}_run: 1, or {P}_SEQ_LEN "
                 "for return_sequences models */",
                 f"#define {P}_STREAMING {int(step)}   /* 1: {p}_step exists (state carried between calls) */"]
        if self.dtype == "int8":
            lines += [f"#define {P}_INPUT_SCALE {x.q_scale!r}f", f"#define {P}_INPUT_ZERO_POINT {x.q_zero_point}",
                      f"#define {P}_OUTPUT_SCALE {y.q_scale!r}f", f"#define {P}_OUTPUT_ZERO_POINT {y.q_zero_point}"]
        if self.window is not None:
            w = self.window
            lines += [f"#define {P}_WINDOW_ROWS {w.rows}   /* inputs one recurrent step reads (the front end's "
                      "receptive field) */",
                      f"#define {P}_WINDOW_STRIDE {w.stride}   /* inputs between two recurrent steps */"]
        if self.masked:
            mq = mask_input_value(d.mask_value, self.dtype, x.q_scale, x.q_zero_point)  # type: ignore[arg-type]
            lines += [f"#define {P}_MASK_VALUE {float(np.float32(d.mask_value))!r}f   /* Keras Masking(mask_value) */",
                      f"#define {P}_MASK_INPUT {mq if self.dtype == 'int8' else repr(mq) + 'f'}   /* a step whose every "
                      f"feature equals this is skipped{' (quantized: within half an input LSB of the mask value)' if self.dtype == 'int8' else ''} */"]
        lines += ["",
                  "/* Scratch: memory the model uses only during a call (kernel work memory, then the activations",
                  f" * arena), owned by the caller, {P}_SCRATCH_ALIGN-byte aligned, not kept between calls.",
                  " * Models that never run at the same time may share one buffer of the largest size, e.g.",
                  f" * static uint64_t scratch[({P}_SCRATCH_BYTES + 7) / 8]; */",
                  f"#define {P}_SCRATCH_BYTES {self.scratch_bytes}   /* kernels {self.kernel_scratch_bytes} B + "
                  f"activations {self.arena_bytes} B */",
                  f"#define {P}_SCRATCH_ALIGN {ALIGN}", "",
                  "/* State carried between calls (hidden and cell states); nothing else. No heap. */",
                  "typedef struct {"]
        for f in self.states:
            lines.append(f"    {f.ctype} {f.name}[{f.count}];   /* {f.comment} */")
        if not self.states:
            lines.append("    uint8_t unused;   /* the model keeps no state */")
        lines += [f"}} {p}_state_t;", "",
                  "/* Zero state (real 0.0 in every state tensor). */", f"void {p}_reset({p}_state_t *s);"]
        if self.masked:
            lines += [f"/* 1 if x_t is masked (every feature == {P}_MASK_INPUT): {p}_step/{p}_run skip it. */",
                      f"int {p}_masked(const {ct} *x_t);"]
        if step:
            lines += [f"/* One timestep: x_t[{P}_INPUT_SIZE] in, y[{P}_OUTPUT_SIZE] out as if the sequence ended "
                      "here;\n   state carried in s. */",
                      f"void {p}_step({p}_state_t *s, void *scratch, const {ct} *x_t, {ct} *y);"]
            if self.window is not None:
                lines[-2] = (f"/* One input: x_t[{P}_INPUT_SIZE] in, kept in the ring of the last {P}_WINDOW_ROWS; "
                             f"when it completes a\n   window (every {P}_WINDOW_STRIDE inputs), one recurrent step. "
                             f"y[{P}_OUTPUT_SIZE]: the output as if the sequence\n   ended at the last completed "
                             "window (before the first: 0.0). */")
            if self.masked:
                lines[-2] = (f"/* One timestep: x_t[{P}_INPUT_SIZE] in, y[{P}_OUTPUT_SIZE] out as if the sequence "
                             f"ended here;\n   state carried in s. A masked x_t returns at once: state unchanged, y = "
                             "the last output\n   (after reset: 0.0). */")
        lines += [f"/* A whole sequence from reset: x_seq[{P}_SEQ_LEN * {P}_INPUT_SIZE] in, "
                  f"y[{P}_OUTPUT_STEPS * {P}_OUTPUT_SIZE] out. */",
                  f"void {p}_run({p}_state_t *s, void *scratch, const {ct} *x_seq, {ct} *y);", "",
                  "#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {P}_MODEL_H */", ""]
        header = "\n".join(lines)

        src = [banner, "#include <float.h>", "#include <string.h>", "", '#include "edgelstm.h"',
               f'#include "{p}_model.h"', "",
               f"/* constant tables: {P}_ALIGN and {P}_WEIGHTS_SECTION ({p}_model.h) */",
               "#undef EL_MODEL_ALIGN", "#undef EL_MODEL_SECTION",
               f"#define EL_MODEL_ALIGN(n) {P}_ALIGN(n)", f"#define EL_MODEL_SECTION {P}_WEIGHTS_SECTION", ""] + defs
        src += [f"void {p}_reset({p}_state_t *s)", "{", "    memset(s, 0, sizeof(*s));"]
        for name, v in self._state_init.items():
            src.append(f"    memset(s->{name}, {v & 0xff}, sizeof(s->{name}));   /* zero point {v} */")
        src += [*self._reset_lines, "}", ""]
        copy_y = f"    memcpy(y, {self.ptr(g.outputs[0])}, {y.size} * sizeof(*y));"
        states = [f"    memcpy({self.ptr(i)}, {self.ptr(o)}, sizeof({self.ptr(i)}));   /* new state */"
                  for i, o in zip(g.inputs[1:], g.outputs[1:])]
        if self.window is not None:
            src += self._window_functions(bool(tail), body + states, tail + [copy_y])
        else:
            src += self._sequence_functions(tail, body + states, copy_y, step)
        src += ["#undef EL_MODEL_ALIGN", "#undef EL_MODEL_SECTION", ""]
        fields = [(f.ctype, f.count) for f in self.states] or [("uint8_t", 1)]
        return Generated(header, "\n".join(src), self.arena_bytes, _struct_size(fields), self.scratch_bytes, kinds,
                         self._weights, set(self.kernels), list(self.calls))

    def _sequence_functions(self, tail: list[str], body: list[str], copy_y: str, step: bool) -> list[str]:
        """<p>_graph (and <p>_head), <p>_step and <p>_run of a step graph (masked or not) or a sequence graph."""
        p, P, ct = self.prefix, self.prefix.upper(), self.ctype
        src: list[str] = []
        if tail:  # the recurrent body per step, the head once (in <p>_run: after the last step)
            src += self._function(f"static void {p}_graph({p}_state_t *s, void *scratch, const {ct} *x)",
                                  ["/* one timestep of the recurrent layers */"], body)
            src += self._function(f"static void {p}_head({p}_state_t *s, void *scratch, {ct} *y)",
                                  ["/* the output from the last recurrent output (run once per sequence) */"],
                                  tail + [copy_y])
            step_calls = [f"    {p}_graph(s, scratch, x_t);", f"    {p}_head(s, scratch, y);"]
            run_loop = [f"        {p}_graph(s, scratch, x_seq + t * {P}_INPUT_SIZE);"]
            run_end = [f"    {p}_head(s, scratch, y);"]
        else:
            src += self._function(f"static void {p}_graph({p}_state_t *s, void *scratch, const {ct} *x, {ct} *y)",
                                  [], body + [copy_y])
            step_calls, run_end = [f"    {p}_graph(s, scratch, x_t, y);"], []
            run_loop = [f"        {p}_graph(s, scratch, x_seq + t * {P}_INPUT_SIZE, "
                        f"y + ({P}_OUTPUT_STEPS > 1 ? t * {P}_OUTPUT_SIZE : 0));"]
        if self.masked:
            src += self._masked_functions(bool(tail), step_calls)
        elif step:
            src += [f"void {p}_step({p}_state_t *s, void *scratch, const {ct} *x_t, {ct} *y)", "{", *step_calls,
                    "}", "",
                    f"void {p}_run({p}_state_t *s, void *scratch, const {ct} *x_seq, {ct} *y)", "{",
                    f"    {p}_reset(s);",
                    f"    for (int32_t t = 0; t < {P}_SEQ_LEN; ++t) {{", *run_loop, "    }", *run_end, "}", ""]
        else:
            src += [f"void {p}_run({p}_state_t *s, void *scratch, const {ct} *x_seq, {ct} *y)", "{",
                    f"    {p}_reset(s);", f"    {p}_graph(s, scratch, x_seq, y);", "}", ""]
        return src

    def _window_functions(self, has_head: bool, body: list[str], head: list[str]) -> list[str]:
        """<p>_push, <p>_step and <p>_run of a model streamed through a window ring (export.stream): the
        recurrent step runs on the inputs a window completes; the others return the last output."""
        p, P, ct, w = self.prefix, self.prefix.upper(), self.ctype, self.window
        assert w is not None
        keep = "    memcpy(s->last_y, y, sizeof(s->last_y));"
        src = [f"/* x_t into the ring of the last {w.rows} inputs; 1 when it completes a window (every {w.stride} "
               "inputs once the first is full) */",
               f"static int {p}_push({p}_state_t *s, const {ct} *x_t)", "{",
               f"    memmove(s->window, s->window + {P}_INPUT_SIZE, ({w.rows} - 1) * {P}_INPUT_SIZE * sizeof(*x_t));",
               f"    memcpy(s->window + ({w.rows} - 1) * {P}_INPUT_SIZE, x_t, {P}_INPUT_SIZE * sizeof(*x_t));",
               "    if (--s->countdown[0] > 0) {", "        return 0;", "    }",
               f"    s->countdown[0] = {w.stride};", "    return 1;", "}", ""]
        if has_head:
            src += self._function(f"static void {p}_graph({p}_state_t *s, void *scratch)",
                                  ["/* the front end on the window, one step of the recurrent layers */"], body)
            src += self._function(f"static void {p}_head({p}_state_t *s, void *scratch, {ct} *y)",
                                  ["/* the output from the last recurrent output */"], head)
            step = [f"    {p}_graph(s, scratch);", f"    {p}_head(s, scratch, y);"]
        else:
            src += self._function(f"static void {p}_graph({p}_state_t *s, void *scratch, {ct} *y)",
                                  ["/* the front end on the window, one step of the recurrent layers, the output */"],
                                  body + head[-1:])
            step = [f"    {p}_graph(s, scratch, y);"]
        src += [f"void {p}_step({p}_state_t *s, void *scratch, const {ct} *x_t, {ct} *y)", "{",
                f"    if (!{p}_push(s, x_t)) {{",
                "        memcpy(y, s->last_y, sizeof(s->last_y));   /* no new window: the last output */",
                "        return;", "    }", *step, keep, "}", "",
                f"void {p}_run({p}_state_t *s, void *scratch, const {ct} *x_seq, {ct} *y)", "{",
                f"    {p}_reset(s);"]
        if has_head:  # the recurrent steps on every window, the head once
            src += ["    int32_t stepped = 0;", f"    for (int32_t t = 0; t < {P}_SEQ_LEN; ++t) {{",
                    f"        if ({p}_push(s, x_seq + t * {P}_INPUT_SIZE)) {{", f"            {p}_graph(s, scratch);",
                    "            stepped = 1;", "        }", "    }", "    if (stepped) {",
                    f"        {p}_head(s, scratch, y);", "    " + keep, "    } else {",
                    "        memcpy(y, s->last_y, sizeof(s->last_y));", "    }", "}", ""]
        else:
            src += ["    memcpy(y, s->last_y, sizeof(s->last_y));", f"    for (int32_t t = 0; t < {P}_SEQ_LEN; ++t) {{",
                    f"        if ({p}_push(s, x_seq + t * {P}_INPUT_SIZE)) {{", f"            {p}_graph(s, scratch, y);",
                    "        }", "    }", keep, "}", ""]
        return src

    def _masked_functions(self, has_head: bool, step_calls: list[str]) -> list[str]:
        """<p>_masked, <p>_step and <p>_run of a model with Masking: masked steps are skipped."""
        p, P, ct = self.prefix, self.prefix.upper(), self.ctype
        keep = "    memcpy(s->last_y, y, sizeof(s->last_y));"
        src = [f"int {p}_masked(const {ct} *x_t)", "{", f"    for (int32_t k = 0; k < {P}_INPUT_SIZE; ++k) {{",
               f"        if (x_t[k] != {P}_MASK_INPUT) {{", "            return 0;", "        }", "    }",
               "    return 1;", "}", "",
               f"void {p}_step({p}_state_t *s, void *scratch, const {ct} *x_t, {ct} *y)", "{",
               f"    if ({p}_masked(x_t)) {{",
               "        memcpy(y, s->last_y, sizeof(s->last_y));   /* skipped: state and output unchanged */",
               "        return;", "    }", *step_calls, keep, "}", "",
               f"void {p}_run({p}_state_t *s, void *scratch, const {ct} *x_seq, {ct} *y)", "{"]
        if has_head:  # the recurrent body on every unmasked step, the head once
            src += ["    int32_t stepped = 0;", f"    {p}_reset(s);", f"    for (int32_t t = 0; t < {P}_SEQ_LEN; ++t) {{",
                    f"        const {ct} *x_t = x_seq + t * {P}_INPUT_SIZE;", f"        if (!{p}_masked(x_t)) {{",
                    f"            {p}_graph(s, scratch, x_t);", "            stepped = 1;", "        }", "    }",
                    "    if (stepped) {", f"        {p}_head(s, scratch, y);", "    " + keep, "    } else {",
                    "        memcpy(y, s->last_y, sizeof(s->last_y));   /* every step masked: the reset output */",
                    "    }", "}", ""]
        else:
            src += [f"    {p}_reset(s);", "    memcpy(y, s->last_y, sizeof(s->last_y));",
                    f"    for (int32_t t = 0; t < {P}_SEQ_LEN; ++t) {{",
                    f"        const {ct} *x_t = x_seq + t * {P}_INPUT_SIZE;", f"        if (!{p}_masked(x_t)) {{",
                    f"            {p}_graph(s, scratch, x_t, y);", "        }", "    }", keep, "}", ""]
        return src

    def _function(self, signature: str, comment: list[str], lines: list[str]) -> list[str]:
        prologue = []
        if self._needs_a(lines):
            prologue.append(f"    uint8_t *const a = (uint8_t *)scratch + {self.arena_offset};   /* activations */")
        elif not any("scratch" in ln for ln in lines):
            prologue.append("    (void)scratch;")
        if not any("s->" in ln for ln in lines):
            prologue.append("    (void)s;")
        return [*comment, signature, "{", *prologue, *lines, "}", ""]

    @staticmethod
    def _needs_a(body: list[str]) -> bool:
        return any("(a + " in line for line in body)


def _check_calls(op: Op, e: op_handlers.Emitted) -> None:
    """A handler declares every runtime kernel its statements call (KernelCall): the runtime files of the
    export and the kernel summary come from those declarations."""
    text = "\n".join(e.code)
    declared = {c.kernel for c in e.calls}
    called = {k for k, kern in kernel_table.KERNELS.items() if re.search(rf"\b{kern.symbol}\(", text)}
    if called != declared:
        raise RuntimeError(f"handler of {op.kind} calls {sorted(called)} but declares {sorted(declared)}")


_ITEMSIZE = {ctype: np.dtype(name).itemsize for name, ctype in CTYPES.items()}


def _struct_size(fields: list[tuple[str, int]]) -> int:
    """sizeof a C struct of arrays (ctype, count): each member aligned to its element size."""
    size, align = 0, 1
    for ctype, count in fields:
        item = _ITEMSIZE[ctype]
        size = -(-size // item) * item + item * count
        align = max(align, item)
    return -(-size // align) * align
