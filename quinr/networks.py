"""Networks written as ``NQ:M:R[:E[:B]]`` items: the one syntax of ``--networks``, ``--quinr-grid``,
``--siren-grid``, search results and rate-control tables.

An item is qubits, embedding size, re-uploads, entangling layers per upload (default 1) and
stacked blocks (default 1). M may give one size per block, joined by ``+`` (``6:26+6:2:1:2``: two
blocks of Nq 6, the first embedding 26 features and the second 6; format version 5), and then
the block count defaults to the number of sizes. In Python an item is a tuple whose M is an
``int`` or a tuple of them; in JSON, an int or a list. The model options that are not part of an
item (the readout, the blocks' link) travel beside it as keywords
(:func:`quinr.config.model_options`).
"""

from __future__ import annotations

from typing import Any

#: (Nq, M, R[, E[, B]]) with M an int or one int per block.
Network = tuple[Any, ...]


def parse_network(text: str) -> Network:
    """One ``NQ:M:R[:E[:B]]`` item (M may be ``A+B+...``); ValueError when it is not one."""
    fields = text.strip().split(":")
    if not 3 <= len(fields) <= 5:
        raise ValueError(text)
    m = tuple(int(v) for v in fields[1].split("+"))
    return (int(fields[0]), m[0] if len(m) == 1 else m, *(int(v) for v in fields[2:]))


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated items; ValueError when there is none or one is malformed."""
    grid = tuple(parse_network(item) for item in text.split(",") if item.strip())
    if not grid:
        raise ValueError(text)
    return grid


def from_json(value: Any) -> Network:
    """An item as JSON stores it (a list whose M may be a list); ValueError/TypeError if not one."""
    if not isinstance(value, (list, tuple)) or not 3 <= len(value) <= 5:
        raise ValueError(value)
    m = value[1]
    m = tuple(int(v) for v in m) if isinstance(m, (list, tuple)) else int(m)
    if isinstance(m, tuple) and len(m) < 2:
        raise ValueError(value)
    return (int(value[0]), m, *(int(v) for v in value[2:]))


def full(item: Network) -> Network:
    """The item with its defaults filled in: five fields (E 1; B 1, or the number of Ms)."""
    if not 3 <= len(item) <= 5:
        raise ValueError(item)
    blocks = len(item[1]) if isinstance(item[1], tuple) else 1
    return (*item, *(1, blocks)[len(item) - 3 :])


def text(item: Network) -> str:
    """The item as written on the command line: ``6:12:2:1:2``, ``6:26+6:2:1:2``."""
    return ":".join(field(v) for v in item)


def field(value: int | tuple[int, ...]) -> str:
    """One field of an item as written: ``12``, or one size per block, ``26+6``."""
    return "+".join(map(str, value)) if isinstance(value, tuple) else str(value)


def keywords(item: Network) -> dict[str, Any]:
    """The item as :class:`~quinr.config.ModelConfig` keywords."""
    names = ("n_qubits", "embed_dim", "reuploads", "layers", "blocks")
    out: dict[str, Any] = dict(zip(names, full(item), strict=True))
    if isinstance(item[1], tuple):
        out["embed_dim"], out["embed_dims"] = item[1][0], item[1]
    return out



def options_text(options: dict[str, str]) -> str:
    """The options as a search key carries them: ``/readout=z/link=residual`` (empty for none)."""
    return "".join(f"/{k}={v}" for k, v in options.items())
