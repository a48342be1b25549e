"""The ``edgelstm`` command. Each pipeline stage registers its own subcommand.

A stage module exposes ``register(subparsers) -> None``; it adds its parser and
sets ``func(args) -> int`` on it. Errors derived from EdgeLSTMError are printed
as one line ``error: ...`` and exit with their code.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from . import __version__
from .errors import EdgeLSTMError

#: Stage modules with a ``register`` function, in pipeline order.
COMMAND_MODULES = (
    "edgelstm.convert.command",
    "edgelstm.inspect.command",
    "edgelstm.profile.command",
    "edgelstm.export.command",
    "edgelstm.run.command",
    "edgelstm.demo",
)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one ``error: ...`` line (exit code 2), like every other edgelstm error.

    Subcommand parsers are created with the class of the main parser, so they print the same way."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="edgelstm",
        description="Keras LSTM/GRU models to TFLite, ONNX and C for Cortex-M microcontrollers.",
    )
    parser.add_argument("--version", action="version", version=f"edgelstm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .procs import install_signal_handlers

    install_signal_handlers()  # SIGTERM/SIGINT: kill the children, clean up, one error line
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except EdgeLSTMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
