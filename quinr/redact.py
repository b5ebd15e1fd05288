"""One redaction for everything quinr writes: execution reports, recorded command lines, run
manifests, ``run.json`` and the journal.

What counts as a secret: the value of any option whose name looks like a credential or an account
id (``token``, ``secret``, ``password``, ``key``, ``credential``, ``instance``, ``account``,
``crn``, ...), or that its driver declares ``secret``; the values of environment variables with
such names (quinr never reads them into a file, but an SDK's error message might quote one); and
text shaped like an IBM Cloud CRN or an AWS access key id. A :class:`Redactor` knows the secret
values of one run and replaces them wherever they appear, so a secret cannot reach a file through
a side door (an exception message in the journal, a note, the recorded ``-O`` options).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "<redacted>"
_SECRET_NAME = re.compile(r"token|secret|passw|key|credential|instance|account|crn|auth|session", re.I)
#: Shapes of secrets worth catching even when nobody declared them.
_SECRET_SHAPES = (
    re.compile(r"crn:v1:[^\s\"',]*"),  # IBM Cloud resource names (the IBM Quantum instance)
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
)
#: Shorter values are not scrubbed from free text (they would match everywhere); the option
#: itself is still redacted by name.
_MIN_SCRUB = 4


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


class Redactor:
    """The secrets of one run, and the functions that keep them out of files."""

    def __init__(self, options: Mapping[str, Any] | None = None, secret_names: Iterable[str] = ()) -> None:
        self.secret_names = set(secret_names)
        values = {str(v) for k, v in (options or {}).items() if self.is_secret(k)}
        values |= {v for k, v in os.environ.items() if is_secret_name(k) and k.isupper()}
        self.values = sorted((v for v in values if len(v) >= _MIN_SCRUB), key=len, reverse=True)

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
        """A command line with the values of secret ``-O KEY=VALUE`` options (in any spelling:
        ``-O k=v``, ``-Ok=v``, ``--option k=v``, ``--option=k=v``) redacted, and every other
        argument scrubbed."""
        out: list[str] = []
        after_option = False
        for arg in argv:
            arg = str(arg)
            prefix, body = "", arg
            if not after_option:
                for p in ("--option=", "-O"):
                    if arg.startswith(p) and arg not in ("-O",):
                        prefix, body = p, arg[len(p):]
                        break
            if after_option or prefix:
                key, sep, _ = body.partition("=")
                if sep and self.is_secret(key.strip()):
                    body = f"{key}={REDACTED}"
            out.append(prefix + self.text(body) if (after_option or prefix) else self.text(arg))
            after_option = arg in ("-O", "--option")
        return out

    def json(self, obj: Any) -> Any:
        """A JSON-like object with every string scrubbed (and secret keys' values redacted)."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, Mapping):
            return {k: (REDACTED if isinstance(k, str) and self.is_secret(k) and isinstance(v, str) and v
                        else self.json(v)) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.json(v) for v in obj]
        return obj
