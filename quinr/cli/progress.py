"""Progress bars on standard error (the library reports progress through callbacks; the command
line draws them here)."""

from __future__ import annotations

import sys


class Bars:
    """The progress bars of a set: one over its items, one over the training steps of the item
    running (transient, with its own ETA); off when quiet; all closed when the work ends or fails."""

    def __init__(self, quiet: bool, desc: str, unit: str, parallel: bool = False, total: int | None = None) -> None:
        self.quiet, self.desc, self.unit = quiet, desc, unit
        self.parallel = parallel  # items run at once: follow one until it finishes
        self.set = self.steps = None
        self.owner: object = None
        self.done = 0  # items finished: the owner of the training steps of the one running
        self.total = total  # known up front: the bar over the items shows from the start

    def __enter__(self) -> Bars:
        if self.total is not None:
            self._open(self.total)
        return self

    def _open(self, total: int) -> None:
        if self.set is None and not self.quiet:
            from tqdm import tqdm

            self.set = tqdm(total=total, desc=self.desc, unit=self.unit, file=sys.stderr, dynamic_ncols=True)

    def __exit__(self, *exc: object) -> None:
        for b in (self.steps, self.set):
            if b is not None:
                b.close()

    def item(self, name: str, done: int, total: int) -> None:
        self.done = done
        if self.quiet:
            return
        if self.steps is not None and (not self.parallel or self.steps.n >= self.steps.total):
            self.steps.close()  # the item whose steps it showed has finished
            self.steps = None
        self._open(total)
        assert self.set is not None
        if name:
            self.set.set_postfix_str(name, refresh=False)
        self.set.update(done - self.set.n)

    def count(self, done: int, total: int) -> None:
        """``item`` without a name: the progress callbacks of a decode (circuits) and a study
        (decodes). The bar appears only once work runs, so a refusal stays one line."""
        self.item("", done, total)

    def step(self, owner: object, label: str, done: int, total: int) -> None:
        if self.quiet:
            return
        if self.steps is not None and owner != self.owner and self.parallel and self.steps.n < self.steps.total:
            return
        if self.steps is None or owner != self.owner:
            if self.steps is not None:
                self.steps.close()
            from tqdm import tqdm

            self.owner = owner
            self.steps = tqdm(total=total, desc=f"  {label}", unit="step", file=sys.stderr, dynamic_ncols=True,
                              leave=False, position=1, mininterval=0.5)
        self.steps.update(done - self.steps.n)
