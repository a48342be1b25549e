"""Errors users see. Each message names the problem and what to do about it, on one line."""
from __future__ import annotations


class EdgeLSTMError(Exception):
    """Base class: the CLI prints ``error: <message>`` and exits non-zero."""

    exit_code = 1


class ModelError(EdgeLSTMError):
    """The model file is missing, corrupt, or uses something we do not support."""

    exit_code = 2


class DataError(EdgeLSTMError):
    """Calibration or validation data is missing or does not fit the model."""

    exit_code = 2


class UnsupportedCombination(EdgeLSTMError):
    """A format x variant x quant combination that cannot work, with the one to use instead."""

    exit_code = 3


class ConverterCrash(EdgeLSTMError):
    """The TFLite/ONNX converter died or failed in its child process."""

    exit_code = 4


class TargetError(EdgeLSTMError):
    """A target profile is missing/invalid or the model does not fit it."""

    exit_code = 5


class ToolchainError(EdgeLSTMError):
    """arm-none-eabi-gcc or QEMU is missing or failed."""

    exit_code = 6


class QualityError(EdgeLSTMError):
    """An artifact computes garbage (verdict broken), or is degraded/broken under --strict."""

    exit_code = 7


class OutputError(EdgeLSTMError):
    """The output folder (-o) cannot be written, is locked by another run, or is not ours to replace."""

    exit_code = 8


class Interrupted(EdgeLSTMError):
    """SIGTERM or SIGINT: children killed, partial output removed. Exit code 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        import signal

        name = signal.Signals(signum).name
        super().__init__(f"interrupted by {name}; unfinished output was removed, run the command again to finish it")
        self.exit_code = 128 + signum
