"""The backend system: a catalogue of profiles (``backends/*.toml``), one driver per SDK family,
and the registry that turns a name into a ready :class:`Backend`.

SDKs are imported lazily by the drivers; importing this package imports none of them.
"""

from .base import Backend, Driver, ExecutionReport
from .options import Option
from .profile import Pricing, Profile
from .registry import (
    ENTRY_POINT_GROUP,
    device_snapshot,
    get_backend,
    get_profile,
    load_profiles,
    missing_requirements,
    parse_noise,
    parse_options,
    training_noise,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Backend",
    "Driver",
    "ExecutionReport",
    "Option",
    "Pricing",
    "Profile",
    "get_backend",
    "get_profile",
    "load_profiles",
    "device_snapshot",
    "missing_requirements",
    "parse_noise",
    "training_noise",
    "parse_options",
]
