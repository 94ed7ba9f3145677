"""Episode-loop modes on the scripted env: chained subtasks, a paced control loop, operator hooks."""

import dataclasses
import time

import numpy as np
import pytest

from envs.scripted import TARGETS, ScriptedEnv, ScriptedExpert
from envs.scripted_chain import ORDERS, SCRIPTED_CHAIN, SUBTASK_STEPS, ScriptedChainEnv
from policies.reference import ZeroPolicy
from vla_bench.rollout import run_episode
from vla_bench.types import EpisodeSpec, EpisodeStatus


class Counting:
    """The scripted expert for the first ``expert_for`` subtasks (counted by resets), then still."""

    name = "counting"

    def __init__(self, expert_for=99):
        self.expert, self.resets, self.expert_for, self.seen, self.states = ScriptedExpert(), 0, expert_for, [], {}

    def reset(self, episode, action_spec):
        self.resets += 1
        self.expert.reset(episode, action_spec)

    def act(self, obs):
        self.seen.append(obs.instruction)
        self.states.setdefault(self.resets, obs.state.copy())  # where each subtask starts
        if self.resets <= self.expert_for:
            return self.expert.act(obs)
        return np.array([[0.0, 0.0, 1.0]], dtype=np.float32)

    def metadata(self):
        return {}


def chain_episode(policy, init_id=0):
    env = ScriptedChainEnv()
    try:
        return run_episode(env, policy, EpisodeSpec("scripted_chain", "chain", init_id), SCRIPTED_CHAIN)
    finally:
        env.close()


@pytest.mark.parametrize("init_id", [0, 3])
def test_chain_runs_every_subtask_in_order_without_reset(init_id):
    policy = Counting()
    r = chain_episode(policy, init_id)
    order = ORDERS[init_id]
    assert r.status is EpisodeStatus.SUCCESS and r.chain_length == 3
    assert [s.name for s in r.subtasks] == list(order) and all(s.success for s in r.subtasks)
    assert policy.resets == 3  # reset per subtask, as CALVIN's evaluation does
    assert r.steps == sum(s.steps for s in r.subtasks) and all(0 < s.steps < SUBTASK_STEPS for s in r.subtasks)
    # each subtask's instruction reaches the policy, in order
    instructions = list(dict.fromkeys(policy.seen))
    assert instructions == [f"move the point to the {t.split('-')[1]} target" for t in order]
    # no reset between subtasks: each starts where the previous one ended, at the previous target
    for k in (2, 3):
        assert np.linalg.norm(policy.states[k] - TARGETS[order[k - 2]]) < 0.1


def test_chain_stops_at_the_first_failed_subtask():
    r = chain_episode(Counting(expert_for=1))
    assert r.status is EpisodeStatus.TIMEOUT and r.chain_length == 1
    assert [s.success for s in r.subtasks] == [True, False]  # the third subtask is never started
    assert r.subtasks[1].steps == SUBTASK_STEPS
    d = r.to_dict()
    assert d["chain_length"] == 1 and d["subtasks"][1] == {"name": ORDERS[0][1], "success": False,
                                                           "steps": SUBTASK_STEPS}


def test_chain_on_an_env_without_subtasks_is_an_error_not_a_failure():
    suite = dataclasses.replace(SCRIPTED_CHAIN, env="scripted")
    r = run_episode(ScriptedEnv(), ZeroPolicy(), EpisodeSpec("scripted_chain", "chain", 0), suite)
    assert r.status is EpisodeStatus.ERROR and "subtasks" in r.error


class Slow(ZeroPolicy):
    def __init__(self, delay_s):
        super().__init__()
        self.delay_s, self.calls = delay_s, 0

    def act(self, obs):
        self.calls += 1
        time.sleep(self.delay_s)
        return super().act(obs)


def paced(max_hz, steps):
    from envs.scripted import SCRIPTED

    task = dataclasses.replace(SCRIPTED.tasks[0], max_steps=steps)
    return dataclasses.replace(SCRIPTED, tasks=(task, *SCRIPTED.tasks[1:]), rollout="paced", max_hz=max_hz)


def test_paced_loop_runs_at_its_control_rate():
    suite = paced(50.0, 40)
    t0 = time.perf_counter()
    r = run_episode(ScriptedEnv(), ZeroPolicy(), EpisodeSpec("scripted", suite.tasks[0].name, 0), suite)
    wall = time.perf_counter() - t0
    assert r.status is EpisodeStatus.TIMEOUT and r.steps == 40
    assert r.timing["control_hz"] == pytest.approx(50.0, rel=0.05)
    assert wall >= 39 / 50.0 * 0.95  # it really waited for each tick
    assert r.extra["hold_steps"] <= 1  # a fast policy is never waited for (at most the very first tick)


def test_paced_env_keeps_time_while_a_slow_policy_computes():
    suite = paced(50.0, 30)
    policy = Slow(delay_s=0.05)  # 2.5 ticks per call
    r = run_episode(ScriptedEnv(), policy, EpisodeSpec("scripted", suite.tasks[0].name, 0), suite)
    assert r.steps == 30 and r.timing["control_hz"] == pytest.approx(50.0, rel=0.05)
    # each one-step chunk costs about two held ticks: the world did not wait for the policy
    assert r.extra["hold_steps"] >= 15 and policy.calls <= 12


class Operated(ScriptedEnv):
    """An env with an operator: records scene resets and labels every episode a failure."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.scene_resets = []

    def reset_scene(self, episode):
        self.scene_resets.append(episode)

    def label_success(self, episode, status):
        return False


def test_operator_resets_the_scene_and_its_label_decides():
    suite = paced(100.0, 40)
    env, spec = Operated(), EpisodeSpec("scripted", suite.tasks[0].name, 2)
    r = run_episode(env, ScriptedExpert(), spec, suite)
    assert env.scene_resets == [spec]
    assert r.status is EpisodeStatus.FAILURE and r.extra["operator_label"] is False
    assert r.steps < 40  # the env itself judged success; the operator overruled it


def test_perturbations_reach_every_subtask_of_a_chain():
    from vla_bench.ood import perturbed

    spec = EpisodeSpec("scripted_chain", "chain", 1, "language.casing_order@5")
    plain, shown = Counting(), Counting()
    env = ScriptedChainEnv()
    with perturbed(env, spec) as wrapped:
        r = run_episode(wrapped, shown, spec, SCRIPTED_CHAIN)
    run_episode(ScriptedChainEnv(), plain, dataclasses.replace(spec, perturbation="none"), SCRIPTED_CHAIN)
    assert r.status is EpisodeStatus.SUCCESS and len(r.subtasks) == 3
    seen, original = list(dict.fromkeys(shown.seen)), list(dict.fromkeys(plain.seen))
    assert len(seen) == len(original) == 3  # one perturbed instruction per subtask, none stuck on the first
    assert all(a != b for a, b in zip(seen, original))
