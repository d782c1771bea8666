"""The command line: the only place that prints and exits.

Exit codes: 0 ran; 3 findings at or above ``--fail-on``; 1 failed; 2 bad usage.
Each verb lives in ``pipeline/commands/<verb>.py`` with ``HELP``, ``EXAMPLE``,
``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import time
from collections.abc import Sequence

from .errors import FlowsleuthError, UsageError

VERBS = ("ingest", "parse", "detect", "report", "run", "lake", "simulate", "topology", "athena", "demo")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_FINDINGS = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so errors stay one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
                "level": record.levelname.lower(),
                "logger": record.name,
                "msg": record.getMessage(),
            }
        )


def setup_logging(*, verbose: bool, debug: bool, fmt: str) -> None:
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    root = logging.getLogger()
    root.handlers.clear()
    if fmt == "json":
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_JsonFormatter())
    elif sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, rich_tracebacks=debug)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    # botocore's DEBUG output includes request signatures: never let it through.
    for noisy in ("botocore", "boto3", "s3transfer", "urllib3", "aiobotocore", "s3fs", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def build_parser(verbs: Sequence[str] = VERBS) -> argparse.ArgumentParser:
    """The command-line parser with the sub-commands ``verbs`` (default: all of them)."""
    parser = _Parser(
        prog="flowsleuth",
        description="Turn AWS VPC Flow Logs and ALB access logs into incident findings.",
        epilog="Example: flowsleuth demo   (ingest data-samples/, detect, write a report)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-v", "--verbose", action="store_true", help="info-level logs")
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help="log line format on stderr")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    for verb in verbs:
        mod = importlib.import_module(f"pipeline.commands.{verb}")
        p = sub.add_parser(
            verb,
            help=mod.HELP,
            description=mod.HELP,
            epilog="Example:\n  " + mod.EXAMPLE,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        p.set_defaults(_command=mod)
    return parser


def verbs_named(argv: Sequence[str]) -> Sequence[str]:
    """The verb the command line names, alone, so only its module is imported (``detect``
    need not load polars for ``parse`` and the simulator: ~1 s of start-up); all verbs when
    none is named (or something else comes first), so help and errors list them all."""
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if arg in VERBS:
            return (arg,)
        if arg == "--log-format":
            rest = rest[1:]
        elif not arg.startswith("-"):
            break
    return VERBS


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = build_parser(verbs_named(argv))
        args = parser.parse_args(argv)
        setup_logging(verbose=args.verbose, debug=args.debug, fmt=args.log_format)
        if not getattr(args, "verb", None):
            parser.print_help()
            return EXIT_USAGE
        return int(args._command.run(args) or 0)
    except UsageError as e:
        if debug:
            raise
        print(f"flowsleuth: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except FlowsleuthError as e:
        if debug:
            raise
        print(f"flowsleuth: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("flowsleuth: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:  # noqa: BLE001 - last resort: one line, not a traceback
        if debug:
            raise
        print(f"flowsleuth: internal error: {type(e).__name__}: {e} (rerun with --debug for a traceback)", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
