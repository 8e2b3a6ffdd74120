"""The `emergence` command: one subcommand per workflow rule, plus fits of published CSVs and benchmarks.

Each subcommand has the name of the rule that calls it (corpus, tokenizer, shards, trunk,
train, task, evaluate, collect, analyze, figure, report); it parses its arguments, calls one
library function and prints a JSON summary. A problem with the user's input ends the
command with one line on stderr naming it, and exit status 2.

One module per stage holds its subcommands, each parser beside its handler (`cmd_*`, which
returns the summary); `arguments` holds the argument types. This module holds what they share:
the parser, the check of each mode's arguments, and the one-line errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from emergence.cli import analysis, data, evaluate, instruct, perf, report, train
from emergence.cli.arguments import Parser
from emergence.errors import EmergenceError

STAGES = (data, train, evaluate, instruct, analysis, report, perf)


def build_parser() -> argparse.ArgumentParser:
    """Every stage's subcommands. A subcommand's `needs` default maps each of its modes (a
    flag of a mutually exclusive group) to the arguments that mode needs beside it."""
    parser = Parser(prog="emergence", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for stage in STAGES:
        stage.add_commands(sub)
    return parser


def check_needs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A usage error (`evaluate --checkpoint needs --task-file, --format`) where the mode
    given lacks arguments it needs."""
    for mode, needed in getattr(args, "needs", {}).items():
        if getattr(args, mode):
            missing = [n for n in needed if getattr(args, n) is None]
            if missing:
                parser.error(
                    f"{args.command} --{mode.replace('_', '-')} needs "
                    + ", ".join("--" + n.replace("_", "-") for n in missing)
                )


def _quiet_closed_loop(unraisable) -> None:
    """When one read of a restore fails, Orbax closes its asyncio loop while TensorStore's
    other reads still finish on their own threads; each reports "Event loop is closed" as
    an unraisable exception, a traceback on stderr before the one line that names the
    checkpoint. Those are dropped; every other unraisable exception is printed as usual."""
    if not (unraisable.exc_type is RuntimeError and str(unraisable.exc_value) == "Event loop is closed"):
        sys.__unraisablehook__(unraisable)


def _exit_with(error: EmergenceError) -> None:
    """End the process with `error`'s first line on stderr and exit status 2."""
    sys.stdout.flush()
    # Background threads of Orbax, TensorStore and asyncio print their own tracebacks when
    # a restore fails or the interpreter shuts down: stderr goes to /dev/null before the
    # one line that matters is written, in one write, to a copy of it; os._exit skips the
    # shutdown that would start more of them.
    line = f"error: {error}".splitlines()[0] + "\n"
    err = os.dup(2)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    os.write(err, line.encode())
    os._exit(2)


def main(argv: list[str] | None = None) -> None:
    """Run the subcommand of `argv` (default: the process's arguments); print its JSON summary."""
    sys.unraisablehook = _quiet_closed_loop
    parser = build_parser()
    args = parser.parse_args(argv)
    check_needs(parser, args)
    try:
        summary = args.func(args)
    except EmergenceError as e:
        _exit_with(e)
    print(json.dumps(summary))
