"""The runner's websocket transport is transparent: same episodes, same outcomes as in-process."""

from vla_bench.config import parse_run_config
from vla_bench.runner import run


def _outcomes(transport, tmp_path):
    data = {"suites": [{"suite": "scripted", "episodes_per_task": 2}], "policies": ["scripted_expert", "zero"],
            "workers": 1, "transport": transport}
    summary = run(parse_run_config(data, "test"), tmp_path / transport, progress=False)
    assert summary.errors == 0, [r.error for r in summary.results if r.error]
    return sorted((r.policy, r.spec.key, r.status.value, r.steps)
                  for r in summary.results)


def test_websocket_transport_matches_in_process(tmp_path):
    remote, local = _outcomes("websocket", tmp_path), _outcomes("inprocess", tmp_path)
    assert remote == local and len(remote) == 12
    assert {o[2] for o in remote if o[0] == "scripted_expert"} == {"success"}
