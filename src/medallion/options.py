"""The :class:`~medallion.config.Config` fields as command-line options (job parameters on
Databricks) and as the README's configuration table - both generated from the fields' metadata
(``help``; ``flag`` when the option is not ``--field-name``; ``commands`` when only some commands
take it), so the two can never disagree with the config.

``python -m medallion.options`` prints the README table.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from dataclasses import fields

from medallion.config import ENV_PREFIX, Config
from medallion.config_values import base_type, literal_values


def cli_flag(f: dataclasses.Field) -> str:
    """The command-line flag of a field: ``--field-name`` unless its metadata names another."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def add_config_arguments(
    parser: argparse.ArgumentParser, only: Sequence[str] | None = None, command: str | None = None
) -> None:
    """Add the options (default None, so the environment and the defaults apply) of ``command`` to
    a parser: the fields in ``only`` (None: every field), without the fields of other commands."""
    group = parser.add_argument_group("configuration (also MEDALLION_<NAME> environment variables)")
    for f in fields(Config):
        if only is not None and f.name not in only:
            continue
        if f.metadata.get("commands") and command not in f.metadata["commands"]:
            continue
        helptext = f"{f.metadata.get('help', '')} (default: {f.default!r})"
        if base_type(f) == "bool":
            action = argparse.BooleanOptionalAction
            group.add_argument(cli_flag(f), dest=f.name, default=None, action=action, help=helptext)
            continue
        allowed = literal_values(f.type)
        group.add_argument(
            cli_flag(f),
            dest=f.name,
            default=None,
            choices=allowed or None,
            metavar=None if allowed else cli_flag(f).lstrip("-").replace("-", "_").upper(),
            help=helptext,
        )


def reference_table() -> str:
    """The README's configuration table: every field with its flag, environment variable, default
    and meaning (``tests/test_config.py`` checks that the README holds exactly this)."""
    lines = [
        "| key | flag / job parameter | environment variable | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for f in fields(Config):
        commands = f.metadata.get("commands")
        flag = f"`{cli_flag(f)}`" + (f" ({', '.join(commands)})" if commands else "")
        default = "" if f.default in ("", None) else f"`{f.default}`"
        meaning = f.metadata.get("help", "").replace("|", "\\|")
        lines.append(f"| {f.name} | {flag} | `{ENV_PREFIX}{f.name.upper()}` | {default} | {meaning} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference_table())
