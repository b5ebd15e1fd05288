"""One redaction for everything quinr writes: execution reports, recorded command lines, run
manifests, ``run.json`` and the journal.

What counts as a secret: the value of any option whose name looks like a credential or an account
id (``token``, ``secret``, ``password``, ``key``, ``credential``, ``instance``, ``account``,
``crn``, ...), or that its driver declares ``secret``; the values of environment variables named
like credentials (``*_TOKEN``, ``*SECRET*``, ``*PASSWORD*``, ``*_API_KEY``, ``*_ACCESS_KEY*``:
quinr never reads them into a file, but an SDK's error message might quote one); and text shaped
like an IBM Cloud CRN or an AWS access key id. A :class:`Redactor` knows the secret values of one
run and replaces them wherever they appear, so a secret cannot reach a file through a side door (an
exception message in the journal, a note, the recorded ``-O`` options). Machine fields (checksums,
task ids) are left as they are: they hold no secret, and a resume needs them intact.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "<redacted>"
_SECRET_NAME = re.compile(r"token|secret|passw|key|credential|instance|account|crn|auth|session", re.I)
#: Environment variables whose values are scrubbed: credentials, not every name with "session" in it.
_SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL")
#: JSON keys whose values are machine data (hashes, provider task ids): never scrubbed.
_MACHINE_KEYS = {"sha256", "file_sha256", "decoded_sha256", "task_id", "task_ids"}
#: A ``KEY=VALUE`` argument, alone or after a flag written with ``=`` (``--option=k=v``) or ``-O``.
_ASSIGNMENT = re.compile(r"^(-O|--?[\w-]+=)?([A-Za-z_][\w.-]*)=(.*)$", re.S)
#: Shapes of secrets worth catching even when nobody declared them.
_SECRET_SHAPES = (
    re.compile(r"crn:v1:[^\s\"',]*"),  # IBM Cloud resource names (the IBM Quantum instance)
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
)
#: Shorter option values are not scrubbed from free text (they would match everywhere), nor
#: environment values shorter than _MIN_ENV; the option itself is still redacted by name.
_MIN_SCRUB = 4
_MIN_ENV = 8


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


class Redactor:
    """The secrets of one run, and the functions that keep them out of files."""

    def __init__(self, options: Mapping[str, Any] | None = None, secret_names: Iterable[str] = ()) -> None:
        self.secret_names = set(secret_names)
        values = {str(v) for k, v in (options or {}).items() if self.is_secret(k) and len(str(v)) >= _MIN_SCRUB}
        values |= {v for k, v in os.environ.items() if _SECRET_ENV.search(k.upper()) and len(v) >= _MIN_ENV}
        self.values = sorted(values, key=len, reverse=True)

    def is_secret(self, name: str) -> bool:
        return name in self.secret_names or is_secret_name(name)

    def options(self, options: Mapping[str, Any]) -> dict[str, str]:
        """Option values as text, secret ones redacted."""
        return {k: (REDACTED if self.is_secret(k) else self.text(str(v))) for k, v in sorted(options.items())}

    def text(self, text: str) -> str:
        for v in self.values:
            text = text.replace(v, REDACTED)
        for shape in _SECRET_SHAPES:
            text = shape.sub(REDACTED, text)
        return text

    def command(self, argv: Iterable[str]) -> list[str]:
        """A command line with the values of secret ``KEY=VALUE`` options redacted in any spelling
        (``-O k=v``, ``-Ok=v``, ``--option k=v``, ``--option=k=v``, argparse's abbreviations such
        as ``--opt=k=v``), and every argument scrubbed."""
        out = []
        for arg in map(str, argv):
            m = _ASSIGNMENT.match(arg)
            if m and self.is_secret(m.group(2)):
                arg = f"{m.group(1) or ''}{m.group(2)}={REDACTED}"
            out.append(self.text(arg))
        return out

    def secrets_digest(self, options: Mapping[str, Any]) -> str:
        """A short digest of the secret option values: two runs that differ only in an account are
        told apart (a run directory's identity), without writing the account down."""
        import hashlib

        text = "\0".join(f"{k}={options[k]}" for k in sorted(options) if self.is_secret(k))
        return hashlib.sha256(text.encode()).hexdigest()[:16] if text else ""

    def json(self, obj: Any) -> Any:
        """A JSON-like object with every string scrubbed and the values under secret keys
        redacted (machine fields, such as checksums and task ids, are kept as they are)."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, Mapping):
            out = {}
            for k, v in obj.items():
                if isinstance(k, str) and k in _MACHINE_KEYS:
                    out[k] = v
                elif isinstance(k, str) and self.is_secret(k) and v not in (None, "", True, False):
                    out[k] = REDACTED
                else:
                    out[k] = self.json(v)
            return out
        if isinstance(obj, (list, tuple)):
            return [self.json(v) for v in obj]
        return obj
