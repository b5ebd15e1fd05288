"""Typed driver options: what ``-O KEY=VALUE`` and a profile's ``[options]`` may say.

Every driver declares its options as :class:`Option` values (type, one-line help, default,
allowed choices or range, whether the value is a secret). Values are checked once, before
anything runs, so a typo or an impossible value (``task_delay=nan``, ``optimization_level=9``)
is one clear line instead of a failure deep inside an SDK; ``secret`` options are redacted from
everything quinr writes; and ``quinr backends NAME`` can list them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import BackendError


@dataclass(frozen=True)
class Option:
    """One driver option."""

    type: type
    help: str
    default: Any = None
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    #: an account id, token or other credential: redacted from reports, records and journals
    secret: bool = False

    def parse(self, name: str, value: Any) -> Any:
        """The value coerced to :attr:`type` and checked, or a :class:`BackendError`."""
        try:
            out = _coerce(value, self.type)
        except (TypeError, ValueError, OverflowError):
            raise BackendError(f"option {name}={value!r} must be of type {self.type.__name__}") from None
        if self.type is float and not math.isfinite(out):
            raise BackendError(f"option {name}={value!r} must be a finite number")
        if self.choices and out not in self.choices:
            *head, tail = map(str, self.choices)
            raise BackendError(f"option {name}={value!r} must be {', '.join(head) + ' or ' if head else ''}{tail}")
        if self.minimum is not None and out < self.minimum:
            raise BackendError(f"option {name}={value!r} must be >= {self.minimum:g}")
        if self.maximum is not None and out > self.maximum:
            raise BackendError(f"option {name}={value!r} must be <= {self.maximum:g}")
        if self.type is str and ("\0" in out or "\n" in out):
            raise BackendError(f"option {name} must be one line of text")
        return out

    def describe(self) -> str:
        """``type [range or choices] (default X): help`` for listings."""
        limits = ""
        if self.choices:
            limits = " {" + ", ".join(map(str, self.choices)) + "}"
        elif self.minimum is not None or self.maximum is not None:
            lo = "" if self.minimum is None else f"{self.minimum:g}"
            hi = "" if self.maximum is None else f"{self.maximum:g}"
            limits = f" [{lo}, {hi}]"
        default = "" if self.default is None else f" (default {self.default})"
        return f"{self.type.__name__}{limits}{default}: {self.help}" + (" [secret: redacted]" if self.secret else "")


def as_option(decl: Option | tuple[type, str]) -> Option:
    """An :class:`Option` from a declaration (third-party drivers may still give ``(type, help)``)."""
    return decl if isinstance(decl, Option) else Option(decl[0], decl[1])


def _coerce(value: Any, typ: type) -> Any:
    if typ is bool and isinstance(value, str):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(value)
    if typ is int and isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    if isinstance(value, typ) and not (typ is int and isinstance(value, bool)):
        return value
    if typ is int and isinstance(value, str):
        return int(value.strip(), 10)
    return typ(value)


#: The option every noise-capable driver accepts (see :mod:`quinr.noise` for the syntax).
NOISE_OPTION = {"noise": Option(str, "noise spec: e.g. depolarizing=0.001,depolarizing2=0.01,readout=0.02 "
                                     "or device=FakeTorino")}


def noise_shorthands(where: str) -> dict[str, Option]:
    """``depolarizing=P`` and ``depolarizing2=P``: the shorthands of ``noise=...`` that the Aer and
    Braket density-matrix backends keep taking (``where`` says which backend applies them)."""
    return {
        "depolarizing": Option(float, f"shorthand for noise=depolarizing=P ({where})", minimum=0, maximum=0.75),
        "depolarizing2": Option(float, f"shorthand for noise=depolarizing2=P ({where})", minimum=0, maximum=15 / 16),
    }
