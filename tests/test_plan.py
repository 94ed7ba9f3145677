from vla_bench.config import parse_run_config
from vla_bench.plan import plan, suite_episodes


def cfg(**suite):
    return parse_run_config({"suites": [{"suite": "scripted", **suite}], "policies": ["scripted_expert", "zero"]},
                            "test")


def test_plan_is_policy_independent_and_explicit():
    items = plan(cfg(episodes_per_task=4))
    by_policy = {}
    for it in items:
        by_policy.setdefault(it.policy_index, []).append(it.spec)
    assert by_policy[0] == by_policy[1]
    assert len(by_policy[0]) == 3 * 4
    assert [s.init_id for s in by_policy[0][:4]] == [0, 1, 2, 3]


def test_repeats_beyond_init_states_get_new_seeds():
    c = cfg(episodes_per_task=25)  # the scripted suite has 20 init states per task
    specs = suite_episodes(c.suites[0], run_seed=10)
    first_task = [s for s in specs if s.task == "reach-left"]
    assert [s.init_id for s in first_task[18:23]] == [18, 19, 0, 1, 2]
    assert [s.seed for s in first_task[18:23]] == [10, 10, 11, 11, 11]
    assert len({s.key for s in specs}) == len(specs)


def test_explicit_init_ids_and_task_subset():
    c = cfg(init_ids=[5, 7], tasks=["reach-up"])
    specs = suite_episodes(c.suites[0], run_seed=0)
    assert [(s.task, s.init_id) for s in specs] == [("reach-up", 5), ("reach-up", 7)]
