"""The reference LPS client: read the task, do the action, write the result.

    python examples/reference_client/client.py                 # task and result paths from the environment
    python examples/reference_client/client.py --task T.json --result R.json --break no-td02

The conformance runner sets SEGUR_SANDBOX_TASK, SEGUR_SANDBOX_RESULT, SEGUR_SANDBOX_DMP_URL and
SEGUR_SANDBOX_INSI_URL (docs/client-task.md); the options override them. What the client does is logged on
stderr, one line per step, so a failed case shows the story.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

if not __package__:  # run as a file (python examples/reference_client/client.py): import as the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "examples.reference_client"  # noqa: A001 - makes the relative imports below work

from .actions import run  # noqa: E402
from .breaks import BREAKS, ENV_VARIABLE, Breaks  # noqa: E402
from .task import Task  # noqa: E402
from .transport import DEFAULT_TIMEOUT_S  # noqa: E402

EXIT_CODES = {"done": 0, "refused": 0, "not-found": 0, "ambiguous": 0, "error": 1}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="reference_client", description="Reference LPS client of the Ségur Sandbox (docs/client-task.md).",
        epilog="Breaks: " + "; ".join(f"{name}: {what}" for name, what in BREAKS.items()))
    parser.add_argument("--task", default=os.environ.get("SEGUR_SANDBOX_TASK"),
                        help="task JSON [env SEGUR_SANDBOX_TASK]")
    parser.add_argument("--result", default=os.environ.get("SEGUR_SANDBOX_RESULT"),
                        help="where to write the result JSON [env SEGUR_SANDBOX_RESULT; default: stdout]")
    parser.add_argument("--break", dest="breaks", action="append", default=[], metavar="NAME",
                        help=f"misbehave in one named way (repeatable; also env {ENV_VARIABLE}=a,b)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help=f"HTTP time-out in seconds [default: {DEFAULT_TIMEOUT_S:g}]")
    parser.add_argument("--quiet", action="store_true", help="no progress log on stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="reference-client: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # our own log says which transaction got which answer
    try:
        breaks = Breaks.parse(args.breaks)
    except ValueError as exc:
        print(f"reference-client: {exc}", file=sys.stderr)
        return 2
    if not args.task:
        print("reference-client: no task (--task or SEGUR_SANDBOX_TASK)", file=sys.stderr)
        return 2
    task = Task.load(args.task)
    case = f" (case {task.data['case']}, step {task.data.get('step')})" if task.data.get("case") else ""
    logging.getLogger("reference_client").info("%s%s%s", task.action, case,
                                               f", breaks: {', '.join(sorted(breaks))}" if breaks else "")
    result = run(task, breaks, args.timeout)
    result.write(args.result)
    logging.getLogger("reference_client").info("result: %s%s", result.status,
                                               f" — {result.reason}" if result.reason else "")
    return EXIT_CODES.get(result.status, 1)


if __name__ == "__main__":
    sys.exit(main())
