"""Perturbations on the scripted env (fast) and on real Meta-World scenes (marker sim)."""

import re

import gymnasium as gym
import numpy as np
import pytest

from envs.scripted import ScriptedEnv
from vla_bench import registries
from vla_bench.ood import describe, make, perturbed
from vla_bench.ood.base import parse
from vla_bench.types import EpisodeSpec

NAMES = registries.perturbations.names()
VISION = [n for n in NAMES if n.startswith("vision.")]
LANGUAGE = [n for n in NAMES if n.startswith("language.")]
OBJECT_WORDS = {"puck", "goal", "door", "drawer", "button", "peg", "hole", "window", "gripper", "hand", "position",
                "point", "target", "left", "right", "up"}


def spec(p, task="reach-left", init=0):
    return EpisodeSpec("scripted", task, init, p)


def rollout(env, perturbation, actions=6, task="reach-left"):
    s = spec(perturbation, task)
    with perturbed(env, s) as e:
        obs, _ = e.reset(seed=0, options={"task": s.task, "init_id": s.init_id})
        frames, instr = [obs["images"]["primary"]], obs["instruction"]
        for k in range(actions):
            obs, *_ = e.step(np.array([0.3, 0.1 * k, 1.0], np.float32))
            frames.append(obs["images"]["primary"])
    return np.stack(frames), instr, obs["state"]


def test_every_kind_is_registered_and_described():
    kinds = {n.split(".")[0] for n in NAMES}
    assert kinds == {"language", "vision", "scene", "dynamics"}
    rows = describe()
    assert len(rows) == len(NAMES) and all(len(r[2]) > 10 and r[3] for r in rows)


def test_parse_errors_name_the_problem():
    assert parse("vision.blur@3") == ("vision.blur", 3)
    with pytest.raises(ValueError, match="kind.name@severity"):
        parse("vision.blur")
    with pytest.raises(ValueError, match="0..5"):
        parse("vision.blur@9")
    with pytest.raises(Exception, match="did you mean 'vision.blur'"):
        make("vision.blurr@1", spec("x"))


NEEDS_RESET_OPTION = [n for n in NAMES if registries.perturbations.get(n).reset_option]


@pytest.mark.parametrize("name", [n for n in NAMES if not n.startswith("scene.") and n not in NEEDS_RESET_OPTION])
def test_severity_zero_is_exactly_identity_and_deterministic(name):
    env = ScriptedEnv(image_size=(32, 32))
    clean = rollout(env, "none")
    zero = rollout(env, f"{name}@0")
    assert np.array_equal(clean[0], zero[0]) and clean[1] == zero[1] and np.array_equal(clean[2], zero[2])
    a, b = rollout(env, f"{name}@4"), rollout(env, f"{name}@4")
    assert np.array_equal(a[0], b[0]) and a[1] == b[1] and np.array_equal(a[2], b[2])


@pytest.mark.parametrize("name", VISION)
def test_vision_magnitude_grows_with_severity(name):
    from envs.metaworld_suites import MT10  # noqa: F401  (instructions only; no simulator)

    rng = np.random.default_rng(0)
    img = (rng.random((128, 128, 3)) * 60 + np.linspace(40, 190, 128)[None, :, None]).astype(np.uint8)
    dists = []
    for sev in range(6):
        p = make(f"{name}@{sev}", spec("x"))
        out = img if sev == 0 else np.clip(np.rint(p.transform(img, p.step_rng(0))), 0, 255)
        dists.append(float(np.abs(out.astype(float) - img).mean()))
    assert dists[0] == 0.0
    assert all(b >= a - 1e-9 for a, b in zip(dists[1:], dists[2:])), dists
    assert dists[5] > dists[1] > 0


@pytest.mark.parametrize("name", LANGUAGE)
def test_language_keeps_object_and_target_words(name):
    from envs.metaworld_suites import MT50

    changed = 0
    for task in MT50.tasks:
        for sev in range(1, 6):
            p = make(f"{name}@{sev}", EpisodeSpec("mt50", task.name, 3))
            out = p.transform(task.instruction)
            words = set(re.findall(r"[a-z]+", out.lower()))
            keep = OBJECT_WORDS & set(task.instruction.split())
            if name != "language.equivalent":
                assert keep <= words, (task.instruction, out)
            else:
                assert keep & {"puck", "door", "drawer", "button", "peg", "window"} <= words, (task.instruction, out)
            changed += out != task.instruction
    assert changed > 100


def test_dynamics_latency_delays_actions_and_noise_grows():
    env = ScriptedEnv(image_size=(16, 16))
    clean = rollout(env, "none", actions=3)
    late = rollout(env, "dynamics.latency@2", actions=3)
    assert not np.allclose(clean[2], late[2])
    drift = [np.abs(rollout(env, f"dynamics.action_noise@{s}", actions=8)[2] - rollout(env, "none", actions=8)[2]).sum()
             for s in (1, 3, 5)]
    assert drift[0] < drift[2]


@pytest.mark.parametrize("name", NEEDS_RESET_OPTION)
def test_perturbations_through_reset_options_refuse_envs_that_ignore_them(name):
    assert set(NEEDS_RESET_OPTION) == {"scene.object_position", "dynamics.init_noise"}
    with pytest.raises(TypeError, match=r"does not honour .* would run unperturbed"):
        with perturbed(ScriptedEnv(image_size=(16, 16)), spec(f"{name}@0")):
            pass


@pytest.mark.parametrize("name", ["vision.blur", "language.synonym", "dynamics.latency", "dynamics.action_noise"])
def test_wrappers_are_gymnasium_wrappers_that_forward_what_the_rollout_reads(name):
    env = ScriptedEnv(image_size=(16, 16))
    with perturbed(env, spec(f"{name}@2")) as e:
        assert isinstance(e, gym.Wrapper) and e.unwrapped is env
        assert e.action_spec is env.action_spec and e.suite is env.suite
        assert np.array_equal(e.noop_action(), env.noop_action())


@pytest.mark.parametrize("name", ["scene.camera_shift", "scene.lighting", "scene.table_color"])
def test_scene_edits_need_a_scene_editable_env(name):
    from vla_bench.ood.scene import SceneEditable

    env = ScriptedEnv(image_size=(16, 16))
    assert not isinstance(env, SceneEditable)
    with pytest.raises(TypeError, match=r"ScriptedEnv does not implement SceneEditable"):
        with perturbed(env, spec(f"{name}@1")):
            pass


@pytest.mark.sim
@pytest.mark.parametrize("name", ["scene.camera_shift", "scene.lighting", "scene.table_color", "scene.object_position",
                                  "dynamics.init_noise"])
def test_scene_perturbations_change_the_scene_and_restore_it(name):
    pytest.importorskip("metaworld")
    from envs.metaworld import MetaWorldEnv

    env = MetaWorldEnv(image_size=(48, 48), fast_render=True)
    try:
        def first(p):
            s = EpisodeSpec("mt10", "push-v3", 2, p)
            with perturbed(env, s) as e:
                obs, info = e.reset(seed=0, options={"task": "push-v3", "init_id": 2})
            return obs["images"]["primary"].astype(float), info["metaworld_obs"]

        clean_img, clean_state = first("none")
        diffs = []
        for sev in (0, 2, 5):
            img, state = first(f"{name}@{sev}")
            diffs.append(np.abs(img - clean_img).mean() + 100 * np.abs(state - clean_state).sum())
        after_img, after_state = first("none")
    finally:
        env.close()
    assert diffs[0] == 0 and 0 < diffs[1] < diffs[2], diffs
    assert np.array_equal(after_img, clean_img) and np.array_equal(after_state, clean_state)  # restored


LIBERO_STYLE = {
    "put the bowl on the plate": {"bowl", "plate"},
    "open the middle drawer of the cabinet": {"drawer", "cabinet", "middle"},
    "turn on the stove": {"stove", "on"},
    "turn off the stove": {"stove", "off"},
    "put the wine bottle on top of the cabinet": {"wine", "bottle", "cabinet", "top"},
    "pick up the alphabet soup and place it in the basket": {"alphabet", "soup", "basket"},
    "push the plate to the front of the stove": {"plate", "front", "stove"},
}


@pytest.mark.parametrize("name", [n for n in LANGUAGE if n != "language.equivalent"])
def test_language_keeps_objects_in_libero_style_instructions(name):
    for init in range(4):
        for text, keep in LIBERO_STYLE.items():
            out = make(f"{name}@5", EpisodeSpec("libero_goal", "t", init)).transform(text)
            assert keep <= set(re.findall(r"[a-z]+", out.lower())), (text, out)
            assert "rotate on" not in out.lower() and "away from the stove" not in out.lower()


def test_different_identities_draw_different_perturbations():
    texts = {make("language.synonym@3", EpisodeSpec("mt10", "push-v3", i)).transform("push the puck to the goal")
             for i in range(12)}
    assert len(texts) > 1
    img = np.full((16, 16, 3), 100, np.uint8)
    noise = [make("vision.gaussian_noise@3", EpisodeSpec("mt10", "push-v3", i)) for i in range(2)]
    a, b = (p.transform(img, p.step_rng(0)) for p in noise)
    assert not np.array_equal(a, b)


@pytest.mark.sim
def test_camera_displacement_equals_the_level_and_the_model_is_restored():
    pytest.importorskip("metaworld")
    from envs.metaworld import MetaWorldEnv

    from vla_bench.ood.scene import SceneEditable

    env = MetaWorldEnv(image_size=(32, 32), fast_render=True)
    assert isinstance(env, SceneEditable)
    try:
        env.reset(seed=0, options={"task": "reach-v3", "init_id": 0})
        before = env.unwrapped.scene_model().cam_pos.copy()
        moved = []
        for sev in range(6):
            s = EpisodeSpec("mt10", "reach-v3", 0, f"scene.camera_shift@{sev}")
            with perturbed(env, s) as e:
                e.reset(seed=0, options={"task": "reach-v3", "init_id": 0})
                moved.append(float(np.linalg.norm(e.unwrapped.scene_model().cam_pos - before, axis=1).max()))
            assert np.array_equal(env.unwrapped.scene_model().cam_pos, before)
    finally:
        env.close()
    from vla_bench.registries import perturbations

    assert moved == pytest.approx(list(perturbations.get("scene.camera_shift").levels), abs=1e-9)
