"""The one error hierarchy of quinr.

Every failure a user can cause (bad input, bad options, a damaged file) raises a subclass of
:class:`QuinrError` with a message that says what was wrong and, where possible, what to do. The
CLI turns these into one-line messages and a non-zero exit code instead of tracebacks.
"""

from __future__ import annotations


class QuinrError(Exception):
    """Base class of every error quinr raises on purpose."""


class ConfigError(QuinrError, ValueError):
    """A network, training or quantization setting is out of its valid range."""


class SignalError(QuinrError):
    """An input signal cannot be read (missing file, not an image, unsupported mode)."""


class BitstreamError(QuinrError):
    """A ``.qinr`` file is not a valid quinr bitstream (wrong magic, version, size, CRC, header)."""


class FileError(QuinrError):
    """A file or folder cannot be read or written (missing, not writable, a link where none may
    be, the output is an input); the message names the path."""


class BackendError(QuinrError):
    """A backend cannot run what was asked (capability, options, credentials, network)."""


class UnknownBackendError(BackendError, KeyError):
    """No profile with that name; the message lists close matches and every valid name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingSDKError(BackendError, ImportError):
    """The backend is known but the SDK its driver needs is not installed (message: pip command)."""


class BudgetError(BackendError):
    """A billed run without an explicit, finite budget, or one whose cost would exceed it: nothing
    was submitted."""


class Interrupted(QuinrError):
    """A run was interrupted (Ctrl-C, SIGTERM) after paying for tasks; the message says where their
    results are kept."""


class TaskFailedError(BackendError):
    """The provider reports a submitted task as failed or cancelled: it produced no result (and
    is not billed as a completed task), so resubmitting it is safe."""


class NoDeviceModel(BackendError):
    """A backend's noise has no model quinr can evaluate (a QPU without a calibration it can read
    offline, a replay): a quality prediction says so instead of giving a shot-noise-only number as
    if it were the answer."""


class WorkerDied(QuinrError):
    """A worker process of a parallel engine died on the same item more than its retries allow
    (killed, out of memory); every item finished before it is kept."""
