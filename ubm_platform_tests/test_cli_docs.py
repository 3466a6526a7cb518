"""README.md documents every `ubm` subcommand and option that `build_parser()` defines."""

from __future__ import annotations

import argparse
import re

from ubm_platform.cli import build_parser
from ubm_platform.settings import PROJECT_ROOT


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, its parser) for every subcommand, nested ones included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _commands(sub, (*path, name))


def undocumented(parser: argparse.ArgumentParser, readme: str) -> list[str]:
    """The subcommands no README line shows as `ubm <command>`, and the options no such line of their
    command mentions (any of an option's spellings will do)."""
    missing = []
    for path, sub in _commands(parser):
        command = "ubm " + " ".join(path)
        lines = [line for line in readme.splitlines() if re.search(rf"{re.escape(command)}(?![\w-])", line)]
        if not lines:
            missing.append(command)
            continue
        text = "\n".join(lines)
        for action in sub._actions:
            spellings = [o for o in action.option_strings if o not in ("-h", "--help")]
            if spellings and not any(re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text) for o in spellings):
                missing.append(f"{command} {'/'.join(spellings)}")
    return missing


def test_readme_documents_every_command_and_option():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert undocumented(build_parser(), readme) == []


def test_an_undocumented_option_or_command_is_reported():
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands.choices["show"].add_argument("--colour")
    commands.add_parser("frobnicate")
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert undocumented(parser, readme) == ["ubm show --colour", "ubm frobnicate"]
