"""The catalogue: find profiles, resolve a name to a ready :class:`Backend`.

Profiles come from, in order of precedence (a later one with the same name wins):

1. the catalogue shipped inside the package (the repository's top-level ``backends/``);
2. the user directory (``$XDG_CONFIG_HOME/quinr/backends``, default ``~/.config/quinr/backends``);
3. every directory in ``QUINR_BACKENDS_PATH`` (``os.pathsep``-separated).

A user profile may not silently replace a built-in one (a profile named ``ibm.torino`` that says
``kind = "simulator"`` would send a decode to the real device without a cost guard): it is refused
unless it declares ``overrides = true``, and is then flagged in ``quinr backends`` and in every
execution report and record.

Drivers are found by name: the built-in ones below, an importable ``"package.module:Class"``
(so a new driver is one driver file and one profile), then third-party ones registered in the
entry-point group ``quinr.backends`` (a name -> a :class:`~quinr.backends.base.Driver` subclass).
SDKs are imported only when a driver is instantiated.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import BackendError, ConfigError, MissingSDKError, UnknownBackendError
from ..noise import NoiseSpec
from ..noise import parse as parse_spec
from . import calibration
from .base import Backend, Driver
from .profile import Profile, load_profile

ENTRY_POINT_GROUP = "quinr.backends"

BUILTIN_DRIVERS = {
    "torch_exact": "quinr.backends.torch_exact:TorchExactDriver",
    "pennylane": "quinr.backends.pennylane:PennyLaneDriver",
    "aer": "quinr.backends.aer:AerDriver",
    "ibm_runtime": "quinr.backends.ibm:IBMRuntimeDriver",
    "braket_local": "quinr.backends.braket_local:BraketLocalDriver",
    "braket_device": "quinr.backends.braket_device:BraketDeviceDriver",
    "replay": "quinr.backends.replay:ReplayDriver",
}
#: SDK families a profile may name instead of a target driver: the family's options say which
#: target (a device option makes it the device driver, otherwise the local simulator).
FAMILIES = {
    "qiskit": (("fake_device", "ibm_backend"), "ibm_runtime", "aer"),
    "braket": (("device_arn",), "braket_device", "braket_local"),
}


def driver_name(name: str, options: dict[str, Any]) -> str:
    """The driver a profile's ``driver`` field and options select (families resolved to a target)."""
    if name in FAMILIES:
        device_options, device, local = FAMILIES[name]
        return device if any(options.get(k) for k in device_options) else local
    return name


def catalogue_dirs() -> list[Path]:
    """Directories searched for profiles, lowest precedence first."""
    dirs = [_packaged_catalogue()]
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    dirs.append(Path(xdg) / "quinr" / "backends")
    for part in os.environ.get("QUINR_BACKENDS_PATH", "").split(os.pathsep):
        if part:
            dirs.append(Path(part))
    return dirs


def _packaged_catalogue() -> Path:
    """The catalogue shipped as ``quinr._catalogue`` (data-only, so a namespace package)."""
    spec = importlib.util.find_spec("quinr._catalogue")
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(__file__).resolve().parents[2] / "backends"  # a source tree that is not installed


def load_profiles() -> dict[str, Profile]:
    """Every profile by name (later directories override earlier ones; a user profile replaces a
    built-in only when it says ``overrides = true``)."""
    out: dict[str, Profile] = {}
    builtin: set[str] = set()
    for i, d in enumerate(catalogue_dirs()):
        if d.is_dir():
            for f in sorted(d.glob("*.toml")):
                p = load_profile(f)
                if i == 0:
                    builtin.add(p.name)
                elif p.name in builtin:
                    if not p.overrides:
                        raise BackendError(f"backend profile {f}: {p.name} is a built-in backend; a user profile "
                                           "replaces it only with `overrides = true` (or give it another name)")
                    p = replace(p, overrides_builtin=True)
                out[p.name] = p
    return out


def get_profile(name: str) -> Profile:
    profiles = load_profiles()
    if name in profiles:
        return profiles[name]
    folded = {p.lower(): p for p in profiles}  # AER -> aer: case is a typo too
    close = [folded[c] for c in difflib.get_close_matches(name.lower(), folded, n=3, cutoff=0.5)]
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownBackendError(f"unknown backend {name!r}.{hint} Valid backends: {', '.join(sorted(profiles))}")


def _driver_class(name: str, options: dict[str, Any] | None = None) -> type[Driver]:
    name = driver_name(name, options or {})
    target = BUILTIN_DRIVERS.get(name) or (name if ":" in name else None)  # "package.module:Class" names itself
    if target is None:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == name:
                cls = ep.load()
                break
        else:
            raise BackendError(f"no driver named {name!r} (built-in: {', '.join([*BUILTIN_DRIVERS, *FAMILIES])}; "
                               f"third-party drivers register in the entry-point group {ENTRY_POINT_GROUP!r})")
    else:
        module, attr = target.split(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise BackendError(f"driver {target!r} cannot be loaded: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Driver)):
        raise BackendError(f"driver {name!r} is not a quinr Driver subclass")
    return cls


def missing_requirements(profile: Profile) -> list[str]:
    """Modules the profile needs that are not importable (checked without importing them)."""
    return [m for m in profile.requires if importlib.util.find_spec(m) is None]


def get_backend(name: str, options: dict[str, Any] | None = None) -> Backend:
    """Resolve a name to a ready backend: profile options, overridden by ``options``."""
    profile = get_profile(name)
    missing = missing_requirements(profile)
    if missing:
        pip = profile.pip or f"pip install {' '.join(missing)}"
        raise MissingSDKError(f"backend {name} needs {', '.join(missing)}, which is not installed: {pip}")
    merged = {**profile.options, **(options or {})}
    cls = _driver_class(profile.driver, merged)
    check_billing(profile, cls, merged)
    if isinstance(merged.get("noise"), str):  # device=NAME is resolved here, at the edge of the core
        try:
            merged["noise"] = parse_noise(merged["noise"])
        except ConfigError as exc:
            raise BackendError(f"backend {name}: {exc}") from None
    driver = cls(profile, merged)  # validates the options (offline: no driver reaches a provider here)
    check_priced_target(profile, cls, merged)
    return Backend(profile, driver)


def check_billing(profile: Profile, cls: type[Driver] | None = None, options: dict[str, Any] | None = None) -> None:
    """Refuse a free profile whose options send circuits to a real device (which bills): a
    profile aimed at a real device must price it, or no budget could guard it."""
    options = profile.options if options is None else options
    cls = cls or _driver_class(profile.driver, options)
    remote = cls.remote_target(options)
    if remote and not profile.pricing.billed:
        raise BackendError(
            f"backend {profile.name} sends circuits to a real device ({remote}), which bills, but its profile prices "
            "it as free; decode on a catalogue profile that prices that device (see `quinr backends`), or give the "
            "profile its [pricing]"
        )


def check_priced_target(profile: Profile, cls: type[Driver], options: dict[str, Any]) -> None:
    """Refuse options that aim a billed profile at another device than the one it prices
    (``-O device_arn=`` of a dearer QPU): the budget would be checked at the wrong rates."""
    remote, priced = cls.remote_target(options), cls.remote_target(profile.options)
    if profile.pricing.billed and remote != priced:
        raise BackendError(
            f"backend {profile.name} prices {priced or 'its own device'}; the options send circuits to "
            f"{remote or 'another target'} instead, which its prices do not cover: choose the catalogue profile of "
            "that device (see `quinr backends`), or a profile of your own with its [pricing]"
        )


def parse_noise(text: str | NoiseSpec | None) -> NoiseSpec:
    """A noise spec from its text or JSON form (:func:`quinr.noise.parse`), with ``device=NAME``
    resolved to that device's calibration snapshot (:func:`device_snapshot`)."""
    return parse_spec(text, device_snapshot)


def device_snapshot(name: str) -> NoiseSpec:
    """A device's calibration as a NoiseSpec: a catalogue backend whose driver knows its device
    (``aer.fake_torino`` offline; ``ibm.torino`` and Braket QPUs need credentials and network), a
    catalogue backend whose options carry a noise spec, or a ``qiskit_ibm_runtime.fake_provider``
    class (``FakeTorino``)."""
    profiles = load_profiles()
    if name not in profiles:
        return calibration.from_ibm_backend(calibration.fake_backend(name))
    profile = profiles[name]
    if "noise" in profile.options:
        return parse_noise(profile.options["noise"])
    try:
        return get_backend(name).driver.device_noise()
    except MissingSDKError:
        raise
    except BackendError as exc:
        raise ConfigError(f"backend {name} has no device calibration ({exc}); give the noise parameters "
                          "themselves") from None


def training_noise(text: str | NoiseSpec | None):
    """The noise ``quinr encode --noise`` trains under. ``device=NAME`` alone is that device's
    faithful model (:class:`~quinr.sim.device.DeviceModel`: the transpiled circuit with the
    calibrated noise of every gate, idle time and readout) where one exists: a
    ``qiskit_ibm_runtime`` fake backend (``FakeTorino``), or a catalogue backend that has one
    (``aer.fake_torino``, ``torch.fake_fez``, ``ibm.torino`` through its offline snapshot).
    Anything else, including ``device=NAME`` with fields overridden, is a :class:`NoiseSpec`
    (:func:`parse_noise`)."""
    if isinstance(text, str):
        items = [i.strip() for i in text.split(",") if i.strip()]
        key, _, name = items[0].partition("=") if len(items) == 1 else ("", "", "")
        if key.strip().lower() == "device" and name.strip():
            name = name.strip()
            if name in load_profiles():
                model = get_backend(name).driver.device_model()
                if model is not None:
                    return model
            elif name.startswith("Fake"):
                from .device_model import fake_model

                return fake_model(name, 1)
    return parse_noise(text)


def parse_options(pairs: list[str]) -> dict[str, str]:
    """``["key=value", ...]`` from the command line (``-O key=value``)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BackendError(f"option {pair!r} must look like key=value")
        out[key.strip()] = value.strip()
    return out
