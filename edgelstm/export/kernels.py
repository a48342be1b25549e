"""The kernel layer between the op graph and the C text.

Handlers (export/ops) turn TFLite ops into typed kernel calls (``KernelCall``: which kernel, its
parameter struct, its arguments, the scratch it needs); this table says, for every kernel of the
runtime, its types, header, source files (its own and what it needs), the implementations it has
and how much caller-owned scratch it takes. The C text and the runtime files of an export come
from the calls and this table, nothing else.

Implementations ("backends"), CMSIS-NN style: one function per file, the SIMD paths beside the
portable C under ``#if``, chosen by the compiler's own feature macros, so one export folder builds
right for every core; every implementation computes the same integers.

  ref   portable C99: host, Cortex-M0+/M3 (and any core)
  dsp   ARMv7E-M / ARMv8-M Mainline DSP extension (SMLAD, SXTB16): Cortex-M4, M7, M33
  mve   ARMv8.1-M Helium (VMLADAVA, vector lanes): Cortex-M55
The target profile's [toolchain] ``backend`` names what the target's compiler flags select; the
export records, per kernel, the implementation that target runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BACKENDS = {"ref": "portable C", "dsp": "__ARM_FEATURE_DSP (SMLAD/SXTB16)", "mve": "__ARM_FEATURE_MVE (Helium)"}
_SIMD = ("ref", "dsp", "mve")
_REF = ("ref",)
SYMBOL_PREFIX = "el_"  # every global symbol of the runtime starts with it
#: EL_RUNTIME_ABI_VERSION of runtime/include/edgelstm.h: generated models #error on another value. Bump it
#: with any change of a kernel's name, parameter struct or arguments.
RUNTIME_ABI_VERSION = 2


@dataclass(frozen=True)
class Kernel:
    name: str  # the kernel: its source file runtime/src/<name>.c; the C function is SYMBOL_PREFIX + name
    act: str  # activation type in
    weights: str  # weight type ("" when none)
    params: str  # C type of its parameter struct ("" when it takes plain arguments)
    header: str  # the runtime header that declares it
    depends: tuple[str, ...] = ()  # other runtime sources it needs (stems)
    impls: tuple[str, ...] = _REF

    @property
    def symbol(self) -> str:
        """The C function (runtime symbols carry the el_ prefix: no clash with the application's names)."""
        return SYMBOL_PREFIX + self.name

    @property
    def files(self) -> tuple[str, ...]:
        return (f"{self.name}.c", *(f"{d}.c" for d in self.depends))

    def implementation(self, backend: str) -> str:
        """The implementation this kernel runs with ``backend``'s compiler flags."""
        return backend if backend in self.impls else "ref"


def _k(name: str, act: str, weights: str, params: str, header: str = "edgelstm.h", **kw: Any) -> Kernel:
    return Kernel(name, act, weights, params, header, **kw)


KERNELS: dict[str, Kernel] = {k.name: k for k in (
    _k("fc_s8", "int8", "int8", "el_fc_s8_t"),
    _k("fc_f32", "float32", "float32", "el_fc_f32_t"),
    _k("add_s8", "int8", "", "el_addsub_s8_t"),
    _k("sub_s8", "int8", "", "el_addsub_s8_t"),
    _k("mul_s8", "int8", "", "el_mul_s8_t"),
    _k("add_s16", "int16", "", "el_add_s16_t"),
    _k("sub_s16", "int16", "", "el_add_s16_t"),
    _k("mul_s16", "int16", "", "el_mul_s16_t"),
    _k("fc_s16", "int16", "int8", "el_fc_s16_t"),  # 16x8: relu GRUs, SimpleRNNs of int8 models (convert.recurrent16)
    _k("sigmoid_s16", "int16", "", "", "el_lstm_s8.h"),  # LOGISTIC int16 (Q0.15 out): the same GRU's gates
    _k("tanh_s16", "int16", "", "", "el_lstm_s8.h", depends=("sigmoid_s16",)),  # TANH int16 (Q0.15 out): a SimpleRNN's state
    _k("requantize_s8_s16", "int8", "", "el_requantize_t"),
    _k("requantize_s16_s8", "int16", "", "el_requantize_t"),
    _k("requantize_s8_s8", "int8", "", "el_requantize_t"),
    _k("lut_s8", "int8", "", ""),
    _k("softmax_s8", "int8", "", "el_softmax_s8_t"),
    _k("softmax_f32", "float32", "", ""),
    _k("logistic_f32", "float32", "", ""),
    _k("tanh_f32", "float32", "", ""),
    _k("rsqrt_f32", "float32", "", ""),  # LayerNormalization's 1/sqrt(var + eps) (int8: a lut_s8 table)
    _k("add_f32", "float32", "", ""),
    _k("clamp_f32", "float32", "", ""),
    _k("sub_f32", "float32", "", ""),
    _k("mul_f32", "float32", "", ""),
    _k("lstm_step_s8", "int8", "int8", "el_lstm_s8_t", "el_lstm_s8.h", depends=("sigmoid_s16",), impls=_SIMD),
    _k("lstm_step_f32", "float32", "float32", "el_lstm_f32_t", "el_lstm_f32.h"),
    _k("gru_step_s8", "int8", "int8", "el_gru_s8_t", "el_gru_s8.h", impls=_SIMD),
    # convolutional front ends (Conv1D as CONV_2D, pooling over time, GlobalAveragePooling1D as MEAN)
    _k("conv_s8", "int8", "int8", "el_conv_s8_t"),
    _k("conv_f32", "float32", "float32", "el_conv_f32_t"),
    _k("dwconv_s8", "int8", "int8", "el_dwconv_s8_t"),  # DepthwiseConv1D as DEPTHWISE_CONV_2D
    _k("dwconv_f32", "float32", "float32", "el_dwconv_f32_t"),
    _k("maxpool_s8", "int8", "", "el_pool_s8_t"),
    _k("maxpool_f32", "float32", "", "el_pool_f32_t"),
    _k("avgpool_s8", "int8", "", "el_pool_s8_t"),
    _k("avgpool_f32", "float32", "", "el_pool_f32_t"),
    _k("mean_s8", "int8", "", "el_mean_s8_t"),
    _k("mean_f32", "float32", "", ""),
    _k("reduce_max_s8", "int8", "", ""),
    _k("reduce_max_f32", "float32", "", ""),
    _k("maximum_s8", "int8", "", ""),
    _k("maximum_f32", "float32", "", ""),
    _k("batch_matmul_s8", "int8", "", "el_batch_matmul_s8_t"),
    _k("batch_matmul_f32", "float32", "", "el_batch_matmul_f32_t"),
)}


#: Runtime sources no export calls (none today; tanh_s16.c, once the fused LSTM's test reference only, now runs
#: the int16 TANH of an int8 model's SimpleRNN).
REFERENCE_ONLY: tuple[str, ...] = ()


@dataclass(frozen=True)
class KernelCall:
    """One call of a runtime kernel in the generated step function."""

    kernel: str
    args: tuple[str, ...]
    scratch_bytes: int = 0  # caller-owned scratch this call needs (shared by all calls)
    note: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.kernel not in KERNELS:
            raise KeyError(f"kernel {self.kernel} is not in export/kernels.py KERNELS")

    def __str__(self) -> str:
        return f"{KERNELS[self.kernel].symbol}({', '.join(self.args)});"


def call(kernel: str, *args: str, scratch_bytes: int = 0) -> KernelCall:
    return KernelCall(kernel, tuple(args), scratch_bytes)


def backend_of(toolchain: dict[str, Any]) -> str:
    """The backend a target's compiler flags select (profile [toolchain] backend, else from -mcpu)."""
    named = toolchain.get("backend")
    if named:
        if named not in BACKENDS:
            raise ValueError(f"unknown backend {named!r} (one of {', '.join(BACKENDS)})")
        return str(named)
    cpu = next((f.split("=", 1)[1] for f in toolchain.get("cflags", []) if f.startswith("-mcpu=")), "")
    if cpu.startswith("cortex-m55") and "+nomve" not in cpu:
        return "mve"
    if cpu.split("+")[0] in ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m35p") and "+nodsp" not in cpu:
        return "dsp"
    return "ref"


def sources(kernels: set[str]) -> list[str]:
    """Runtime source files (in runtime/src) of these kernels and what they depend on."""
    return sorted({f for k in kernels for f in KERNELS[k].files})


def summary(kernels: set[str], backend: str) -> list[dict[str, Any]]:
    """export.json's view: each kernel, its types and the implementation the target runs."""
    return [{"kernel": k, "symbol": KERNELS[k].symbol, "act": KERNELS[k].act, "weights": KERNELS[k].weights,
             "params": KERNELS[k].params, "implementation": KERNELS[k].implementation(backend),
             "files": list(KERNELS[k].files)}
            for k in sorted(kernels)]
