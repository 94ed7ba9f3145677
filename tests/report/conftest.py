import numpy as np
import pytest

from vla_bench import records
from vla_bench.types import EpisodeResult, EpisodeSpec, EpisodeStatus, SubtaskResult


def write_run(path, rows, policies):
    layouts = {r.spec.suite: LAYOUTS.get(r.spec.suite, "per_task") for r in rows}
    records.write_manifest(path, {"config_hash": "synthetic", "policies": policies, "report_layouts": layouts})
    with records.EpisodeLog(path / records.EPISODES) as log:
        for r in rows:
            log.append(r)
    return path


LAYOUTS = {"calvin_abc_d": "calvin_chain", **{s: "libero" for s in ("libero_spatial", "libero_object", "libero_goal",
                                                                    "libero_10")}}


def outcome(policy, suite, task, i, ok, *, subtasks=(), perturbation="none", status=None):
    st = status or (EpisodeStatus.SUCCESS if ok else EpisodeStatus.TIMEOUT)
    return EpisodeResult(EpisodeSpec(suite, task, i, perturbation), policy, st, 10 + i,
                         subtasks=tuple(SubtaskResult(f"s{j}", ok, 3) for j, ok in enumerate(subtasks)),
                         timing={"policy_s": 0.01 * (1 + (policy == "slow")),
                                                           "total_s": 1.0})


@pytest.fixture()
def synthetic_runs(tmp_path):
    """Two shards of a LIBERO-style run, a CALVIN run and a Meta-World run, with fixed outcomes."""
    rng = np.random.default_rng(7)
    shard_a, shard_b, calvin, mw = [], [], [], []
    for suite, pa, pb in [("libero_spatial", 0.95, 0.6), ("libero_object", 0.9, 0.85), ("libero_goal", 0.8, 0.5),
                          ("libero_10", 0.6, 0.3)]:
        for task in ("t0", "t1"):
            for i in range(25):
                shard = shard_a if i < 12 else shard_b
                shard.append(outcome("strong", suite, task, i, rng.random() < pa))
                shard.append(outcome("weak", suite, task, i, rng.random() < pb))
    shard_b.append(outcome("weak", "libero_10", "t1", 24, False, status=EpisodeStatus.ERROR))
    shard_b.append(outcome("weak", "libero_10", "t1", 24, True))  # retried: the counted attempt wins
    for i in range(40):
        for p, q in (("strong", 0.85), ("weak", 0.6)):
            chain = [rng.random() < q for _ in range(5)]
            calvin.append(outcome(p, "calvin_abc_d", "chain", i, all(chain), subtasks=chain))
    for i in range(10):
        mw.append(outcome("strong", "mt10", "reach-v3", i, True))
        mw.append(outcome("slow", "mt10", "reach-v3", i, i % 2 == 0))
        mw.append(outcome("strong", "mt10", "reach-v3", i, i < 6, perturbation="vision.blur@3"))
    return {
        "a": write_run(tmp_path / "a", shard_a, ["strong", "weak"]),
        "b": write_run(tmp_path / "b", shard_b, ["strong", "weak"]),
        "calvin": write_run(tmp_path / "calvin", calvin, ["strong", "weak"]),
        "mw": write_run(tmp_path / "mw", mw, ["strong", "slow"]),
    }
