from hypothesis import given
from hypothesis import strategies as st

from vla_bench import records
from vla_bench.types import EpisodeResult, EpisodeSpec, EpisodeStatus, SubtaskResult


def result(init_id, status, policy="p", attempt=0):
    return EpisodeResult(EpisodeSpec("s", "t", init_id), policy, EpisodeStatus(status), 5, attempt=attempt)


def test_torn_last_line_is_ignored_and_repaired(tmp_path):
    path = tmp_path / records.EPISODES
    with records.EpisodeLog(path) as log:
        log.append(result(0, "success"))
        log.append(result(1, "failure"))
    with path.open("ab") as f:
        f.write(b'{"spec": {"suite": "s", "ta')  # a write cut by kill -9
    assert [r.spec.init_id for r in records.iter_attempts(tmp_path)] == [0, 1]
    with records.EpisodeLog(path) as log:
        log.append(result(2, "timeout"))
    assert [r.spec.init_id for r in records.iter_attempts(tmp_path)] == [0, 1, 2]


def test_counted_attempt_wins_over_error_and_error_stays_when_alone():
    final = records.final_results(
        [result(0, "error"), result(0, "success", attempt=1), result(1, "error"), result(1, "error", attempt=1)]
    )
    assert [(r.spec.init_id, r.status.value, r.attempt) for r in final] == [(0, "success", 1), (1, "error", 1)]


@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["success", "failure", "timeout", "error"]),
                          st.sampled_from(["a", "b"])), max_size=40))
def test_merge_has_one_result_per_identity(rows):
    final = records.final_results(result(i, s, p) for i, s, p in rows)
    keys = [(r.policy, r.spec.key) for r in final]
    assert len(keys) == len(set(keys)) == len({(p, i) for i, _, p in rows})
    for r in final:
        statuses = {s for i, s, p in rows if (p, i) == (r.policy, r.spec.init_id)}
        assert r.status.counted or statuses == {"error"}


def test_result_round_trip():
    r = EpisodeResult(EpisodeSpec("s", "t", 3, "vision.blur@2", 7), "p", EpisodeStatus.SUCCESS, 12,
                      subtasks=(SubtaskResult("open drawer", True, 40), SubtaskResult("lift block", False, 360)),
                      timing={"total_s": 1.5}, error=None, attempt=1)
    assert EpisodeResult.from_dict(r.to_dict()) == r
