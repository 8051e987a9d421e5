"""The `geomflow` command line.

Every sub-command lives in its own module `geomflow/cli/_<name>.py` exposing
`register(subparsers)`, which adds an argparse parser whose `func(args) -> int` runs it.
Errors raised as `GeomflowError` (or `ValueError`) are printed as one line on stderr and exit 2;
no traceback reaches the user unless `GEOMFLOW_DEBUG=1`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

# Sub-command modules, in the order `--help` lists them. A module that is missing (work in
# progress) is skipped rather than breaking the whole CLI.
_COMMANDS = ("_info", "_flow", "_ed", "_dims", "_fibres", "_merge", "_figures", "_demo")


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), never a traceback."""

    def error(self, message):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="geomflow",
        description="Geometry of linear neural networks: gradient-flow Monte Carlo, balance "
        "invariants, critical sets and ED degrees.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"geomflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"geomflow.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"geomflow.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def emit_json(obj) -> None:
    """Print one JSON object on stdout (numpy scalars and arrays converted)."""
    from .._json import json_default

    print(json.dumps(obj, default=json_default, indent=2, sort_keys=False))


def main(argv: list[str] | None = None) -> int:
    from .._errors import GeomflowError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        rc = args.func(args)
    except (GeomflowError, ValueError, FileNotFoundError) as exc:
        if os.environ.get("GEOMFLOW_DEBUG"):
            raise
        print(f"geomflow {args.command}: error: {exc}".replace("\n", " "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"geomflow {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


def parse_widths(text: str) -> tuple[int, ...]:
    """Parse `3,2,2,3` into a tuple of ints (validated later by `Architecture`)."""
    from .._errors import GeomflowError

    try:
        return tuple(int(t) for t in text.split(",") if t.strip() != "")
    except ValueError:
        raise GeomflowError(
            f"--widths must be comma-separated positive integers like 3,2,2,3, got {text!r}"
        ) from None


def setup_jax(precision: str = "float64") -> None:
    """Configure JAX for the CLI: float64 (default) and a persistent compilation cache."""
    import jax

    jax.config.update("jax_enable_x64", precision == "float64")
    from .._cache import enable_compile_cache

    enable_compile_cache()


if __name__ == "__main__":
    sys.exit(main())
