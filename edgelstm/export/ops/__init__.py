"""One handler per TFLite operator (and element type): each turns an op of the graph into C
parameter definitions and the statements that run it. Handlers register with ``@handler``,
which rejects a second handler for the same op and type."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

from ...errors import UnsupportedCombination
from ..graph import Graph, Op
from ..kernels import KernelCall


@dataclass
class Emitted:
    definitions: str = ""  # file-scope C: constant arrays and parameter structs
    code: list[str] = field(default_factory=list)  # statements of the step function
    calls: list[KernelCall] = field(default_factory=list)  # the runtime kernels the statements call

    @classmethod
    def of(cls, definitions: str, *calls: KernelCall) -> "Emitted":
        """Statements that are just these kernel calls."""
        return cls(definitions, [str(c) for c in calls], list(calls))


@dataclass
class StateField:
    name: str
    ctype: str
    count: int
    comment: str


class Context(Protocol):
    graph: Graph
    prefix: str

    def ptr(self, tensor: int) -> str:
        """C expression of a tensor's buffer (typed pointer)."""

    def op_name(self, op: Op) -> str:
        """Unique C identifier for the op's parameters (prefix included)."""

    def weight_name(self, tensor: int) -> str:
        """C identifier of a constant tensor (named after its layer and gate when known)."""

    def first_use(self, key: int | str) -> bool:
        """True the first time a constant (tensor index or C name) is defined: emit it once."""

    def scratch(self, ctype: str, count: int) -> str:
        """Kernel work memory in the caller's scratch (not kept between steps; shared by the ops, before the
        activation arena); returns the C expression of a ``ctype`` pointer to it."""

    def state(self, name: str, ctype: str, count: int, comment: str, init: int = 0) -> str:
        """Declare a state field kept across steps (reset to init); returns the C expression."""


Handler = Callable[[Context, Op], Emitted]
_REGISTRY: dict[tuple[str, str], Handler] = {}


def handler(kind: str, dtype: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        key = (kind, dtype)
        if key in _REGISTRY:
            raise RuntimeError(f"two C export handlers for {kind} {dtype}: {_REGISTRY[key].__name__} and {fn.__name__}")
        _REGISTRY[key] = fn
        return fn
    return register


def emit(ctx: Context, op: Op) -> Emitted:
    dtype = ctx.graph.t(op.outputs[0]).dtype
    fn = _REGISTRY.get((op.kind, dtype))
    if fn is None:
        supported = ", ".join(sorted(f"{k} {t}" for k, t in _REGISTRY))
        raise UnsupportedCombination(f"the C export has no kernel for {op.kind} ({dtype}); supported: {supported}")
    return fn(ctx, op)


def supported_ops() -> list[tuple[str, str]]:
    return sorted(_REGISTRY)


# Handlers register on import.
from . import activations, conv, elementwise, fc, lstm, matmul, moves, pool, quantize, softmax  # noqa: E402,F401
