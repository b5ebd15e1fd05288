"""The backend system: a catalogue of profiles (``backends/*.toml``), one driver per SDK family,
and the registry that turns a name into a ready :class:`Backend`.

SDKs are imported lazily by the drivers; importing this package imports none of them.
"""

from .base import Backend, Driver, ExecutionReport
from .profile import Pricing, Profile
from .registry import ENTRY_POINT_GROUP, get_backend, get_profile, load_profiles, missing_requirements, parse_options

__all__ = [
    "ENTRY_POINT_GROUP",
    "Backend",
    "Driver",
    "ExecutionReport",
    "Pricing",
    "Profile",
    "get_backend",
    "get_profile",
    "load_profiles",
    "missing_requirements",
    "parse_options",
]
