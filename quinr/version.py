"""The version of quinr (one place; the package, the CLI and run records read it)."""

__version__ = "0.1.0"
