"""The exact torch simulator: training engine and reference decoder (no SDK imports)."""

from .engine import probabilities
from .sampling import sample_counts, sample_probabilities
from .statevector import DEFAULT_CHUNK_AMPLITUDES, amplitudes

__all__ = ["DEFAULT_CHUNK_AMPLITUDES", "amplitudes", "probabilities", "sample_counts", "sample_probabilities"]
