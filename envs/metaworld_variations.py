"""Meta-World's task variations, cached so an env does not rebuild the whole benchmark.

Building ``metaworld.MT10``/``MT50`` samples every task's 50 variations (object and goal positions)
from one global random stream, which takes seconds (MT10 ~5 s) in every process that does it. The
variations are a pure function of the benchmark and its seed, so they are computed once
(``python -m envs.metaworld_variations``) and shipped as JSON; a test checks the file against a
freshly built benchmark. init_id k of a task is its k-th variation.
"""

from __future__ import annotations

import functools
import json
import pickle
import sys
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "metaworld_variations.json"
BENCHMARK_SEED = 0  # the seed of the Meta-World benchmark whose variations are the init states


def compute(suite: str, seed: int) -> dict[str, list[dict[str, Any]]]:
    """Build Meta-World's benchmark and return {task: [variation kwargs, ...]} (JSON-friendly)."""
    import metaworld

    bench = {"mt10": metaworld.MT10, "mt50": metaworld.MT50}[suite](seed=seed)
    out: dict[str, list[dict[str, Any]]] = {}
    for task in bench.train_tasks:
        data = pickle.loads(task.data)  # Meta-World's own task encoding, built locally just now
        data.pop("env_cls")
        data["rand_vec"] = [float(x) for x in data["rand_vec"]]
        out.setdefault(task.env_name, []).append(data)
    return out


@functools.lru_cache(maxsize=None)
def load(suite: str, seed: int) -> dict[str, list[dict[str, Any]]]:
    table = json.loads(DATA.read_text())
    key = f"{suite}/seed={seed}"
    if key not in table:
        raise KeyError(f"no cached Meta-World variations for {key}; run `python -m envs.metaworld_variations`")
    return table[key]


def make_task(env_cls: type, env_name: str, variation: dict[str, Any]) -> Any:
    """A Meta-World Task for ``set_task`` from one cached variation."""
    import numpy as np
    from metaworld.types import Task

    data = {**variation, "rand_vec": np.asarray(variation["rand_vec"], dtype=np.float64), "env_cls": env_cls}
    return Task(env_name=env_name, data=pickle.dumps(data))


def main() -> int:
    table = {f"{s}/seed={BENCHMARK_SEED}": compute(s, BENCHMARK_SEED) for s in ("mt10", "mt50")}
    DATA.parent.mkdir(parents=True, exist_ok=True)
    DATA.write_text(json.dumps(table, sort_keys=True) + "\n")
    print(f"wrote {DATA}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
