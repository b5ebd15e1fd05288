"""The ``quinr`` command line: encode, decode, info, demo, backends, budget, noise, study.

``main(argv)`` returns an exit code: 0 on success, 1 when quinr refused the input (a one-line
message on stderr, no traceback), 2 for usage errors (argparse), 130 when interrupted, 141 when
standard output was closed (``quinr ... | head``: the command ends quietly).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Sequence

#: How long GNU OpenMP's idle workers spin before they sleep, set for this process before the
#: imports below load torch (it is read once, when torch's OpenMP library loads), unless the
#: environment already says how they should wait. Why: after each of torch's parallel ops its
#: workers spin for about 300,000 iterations (milliseconds) on the cores the fused engine's
#: kernels run on next, which then share those cores with them; a tenth of that spin leaves torch's
#: back-to-back ops their warm workers. Measured on two cores (docs/performance.md): the default
#: encode of kodim02 takes 10 s instead of 14 s, and the torch engine is no slower.
OPENMP_SPIN = "30000"
if "torch" not in sys.modules and not {"GOMP_SPINCOUNT", "OMP_WAIT_POLICY"} & set(os.environ):
    os.environ["GOMP_SPINCOUNT"] = OPENMP_SPIN

from ..errors import Interrupted, QuinrError  # noqa: E402  (after the setting above)
from .backend import _cmd_backends, _cmd_budget, _cmd_noise, _cmd_replay, _cmd_study  # noqa: E402
from .coding import _cmd_compare, _cmd_decode, _cmd_demo, _cmd_encode, _cmd_info  # noqa: E402
from .parser import build_parser  # noqa: E402
from .rating import _cmd_search  # noqa: E402
from .sweeps import _cmd_lidar_to_range, _cmd_rd  # noqa: E402

_COMMANDS = {
    "encode": _cmd_encode,
    "decode": _cmd_decode,
    "info": _cmd_info,
    "compare": _cmd_compare,
    "demo": _cmd_demo,
    "backends": _cmd_backends,
    "budget": _cmd_budget,
    "noise": _cmd_noise,
    "replay": _cmd_replay,
    "rd": _cmd_rd,
    "search": _cmd_search,
    "lidar-to-range": _cmd_lidar_to_range,
    "study": _cmd_study,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if argv is None:  # the console script: SIGTERM stops a run the way Ctrl-C does (what was paid for is kept)
        signal.signal(signal.SIGTERM, _terminate)
    try:
        code = _COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers below
        return code
    except Interrupted as exc:
        _fail(str(exc))
        return 130
    except QuinrError as exc:
        return _fail(str(exc))
    except BrokenPipeError as exc:
        if _stdout_closed():  # our own stdout's reader went away (quinr ... | head): end quietly
            _silence_stdout()
            return 141
        return _fail(f"{type(exc).__name__}: {exc}")  # a connection, not our output
    except OSError as exc:  # file-system errors quinr did not foresee still name the path
        from ..files import describe_os_error

        return _fail(describe_os_error(exc.filename, exc) if exc.filename else f"{type(exc).__name__}: {exc}")
    except MemoryError:
        return _fail("out of memory; decode a --crop or --scale, or use smaller settings")
    except KeyboardInterrupt:
        print("quinr: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback (QUINR_DEBUG=1 does)
        if os.environ.get("QUINR_DEBUG"):
            raise
        return _fail(f"internal error: {type(exc).__name__}: {exc} (set QUINR_DEBUG=1 for the traceback, and please "
                     "report it)")


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt


def _fail(message: str) -> int:
    with contextlib.suppress(BrokenPipeError, OSError):
        print(f"quinr: error: {' '.join(message.split())}", file=sys.stderr)
    return 1


def _stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader has gone (poll reports an error on it)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return True  # no stdout to poll: treat the broken pipe as ours


def _silence_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so that the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


