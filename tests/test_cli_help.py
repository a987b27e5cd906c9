"""`snncc --help` reads well: each command's summary is one short line, and the help of every
command renders without error (typer's rich markdown mode)."""
from __future__ import annotations

import inspect

import pytest
from typer.testing import CliRunner

from snncc.cli import app

COMMANDS = [c.name or c.callback.__name__ for c in app.registered_commands]


def test_every_command_has_a_one_line_summary():
    for cmd in app.registered_commands:
        first = inspect.cleandoc(cmd.callback.__doc__ or "").split("\n\n")[0]
        assert first and "\n" not in first and len(first) <= 80, (cmd.callback.__name__, first)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_renders(command):
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
