"""The engines that run independent trainings (quinr.engines): every item once, in any order, and
a worker process that dies costs only a retry of its item, on the local pool and on Ray."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from PIL import Image
from quinr_testutils import smooth_rgb

from quinr.batch import encode_many
from quinr.engines import RETRIES, execute
from quinr.errors import ConfigError, WorkerDied


def _square(shared: int, item: int, step=None) -> int:
    if step is not None:
        step(1, 1)
    return shared + item * item


def _die_once(marks: str, item: int, step=None) -> int:
    """Kills its own worker process the first time it sees ``item`` (a mark file remembers)."""
    mark = Path(marks) / f"{item}"
    if not mark.exists():
        mark.write_text("died")
        os._exit(3)  # no exception, no clean-up: the process is gone, as when it is killed
    return item * 10


def _always_die(marks: str, item: int, step=None) -> int:
    with open(Path(marks) / "deaths", "a") as f:
        f.write(f"{item}\n")
    os._exit(3)


@pytest.mark.parametrize("engine", ["serial", "local"])
def test_every_item_once_with_its_steps(engine):
    seen = []
    got = dict(execute(_square, 100, [1, 2, 3, 4, 5], engine, 2, step=lambda it, d, t: seen.append(it)))
    assert got == {k: 100 + k * k for k in range(1, 6)}
    assert sorted(seen) == [1, 2, 3, 4, 5]  # the last step of every item arrives
    with pytest.raises(ConfigError, match="unknown engine"):
        list(execute(_square, 0, [1, 2], "dask", 2))


def test_local_pool_retries_the_items_of_a_worker_that_died(tmp_path):
    got = dict(execute(_die_once, str(tmp_path), [1, 2, 3, 4], "local", 2))
    assert got == {1: 10, 2: 20, 3: 30, 4: 40}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1", "2", "3", "4"]  # each died once, then ran


def test_local_pool_gives_up_on_an_item_that_always_kills_its_worker(tmp_path):
    with pytest.raises(WorkerDied, match="died 4 times while running 7"):
        list(execute(_always_die, str(tmp_path), [7, 8], "local", 1))
    deaths = (tmp_path / "deaths").read_text().split()
    assert deaths == ["7"] * (RETRIES + 1)  # one worker: 8 never started, so never counted as dying


def test_ray_retries_a_point_whose_worker_died_then_gives_up(tmp_path):
    pytest.importorskip("ray")
    import ray.cloudpickle

    from quinr.engines import ray_cluster

    hopeless = tmp_path / "hopeless"
    hopeless.mkdir()
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import the tests
    try:
        with ray_cluster(2):  # one local cluster for both runs
            got = dict(execute(_die_once, str(tmp_path), [1, 2, 3], "ray", 2))
            with pytest.raises(WorkerDied, match="died 4 times while running (9|10)"):  # one item runs here: two
                list(execute(_always_die, str(hopeless), [9, 10], "ray", 2))
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert got == {1: 10, 2: 20, 3: 30}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1", "2", "3", "hopeless"]
    deaths = (hopeless / "deaths").read_text().split()
    assert max(deaths.count("9"), deaths.count("10")) == RETRIES + 1


def test_a_folder_encodes_the_same_on_every_engine(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    for k in range(3):
        Image.fromarray(smooth_rgb(6, 8, seed=30 + k)).save(folder / f"s{k}.png")
    from quinr.model import ModelConfig
    from quinr.train import TrainConfig

    inputs = sorted(folder.iterdir())
    kw = dict(model=ModelConfig(n_qubits=3, embed_dim=4, reuploads=1), train=TrainConfig(steps=6, batch_size=None))
    seen = []
    pool = encode_many(inputs, tmp_path / "pool", engine="local", workers=2, **kw,
                       step=lambda src, done, total: seen.append((src.name, total)))
    serial = encode_many(inputs, tmp_path / "serial", engine="serial", **kw)
    assert [i["input"] for i in pool["items"]] == [str(p) for p in inputs]  # input order, whatever finished first
    for a, b in zip(pool["items"], serial["items"], strict=True):
        assert a["bytes"] == b["bytes"] and a["psnr"] == pytest.approx(b["psnr"], abs=0.05)
    assert {name for name, _ in seen} == {"s0.png", "s1.png", "s2.png"} and {t for _, t in seen} == {6}
