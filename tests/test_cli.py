"""The command line: every pipeline stage is there, --help works, errors are one line."""
from __future__ import annotations

from conftest import run_cli


def test_help_lists_every_stage():
    # Every module in cli.COMMAND_MODULES registers a command.
    out = run_cli("--help").stdout
    for command in ("convert", "profile", "export", "run", "demo"):
        assert f"    {command} " in out, command


def test_subcommand_help_and_version():
    assert "--variant" in run_cli("convert", "--help").stdout
    assert run_cli("--version").stdout.startswith("edgelstm ")


def test_no_model_is_a_one_line_error(tmp_path):
    proc = run_cli("convert", "-o", str(tmp_path / "o"), check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().startswith("error: no model given")
