"""Meta-World MT10 and MT50 as suites: task names, hand-written instructions and step budgets.

Pure data: importing this module does not import Meta-World. The step budget is Meta-World's own
``max_path_length`` (500); init_id k is the k-th of the 50 task variations Meta-World defines for
each task (see envs/metaworld.py for the seed they are built with).
"""

from __future__ import annotations

from vla_bench.suite import SuiteSpec, TaskSpec

MAX_PATH_LENGTH = 500

INSTRUCTIONS: dict[str, str] = {
    "assembly-v3": "put the ring over the peg",
    "basketball-v3": "pick up the ball and dunk it in the basket",
    "bin-picking-v3": "move the cube from one bin to the other bin",
    "box-close-v3": "put the lid on the box",
    "button-press-topdown-v3": "press the button from the top",
    "button-press-topdown-wall-v3": "press the button from the top behind the wall",
    "button-press-v3": "press the button from the front",
    "button-press-wall-v3": "press the button behind the wall",
    "coffee-button-v3": "press the button on the coffee machine",
    "coffee-pull-v3": "pull the mug away from the coffee machine",
    "coffee-push-v3": "push the mug under the coffee machine",
    "dial-turn-v3": "turn the dial",
    "disassemble-v3": "lift the ring off the peg",
    "door-close-v3": "close the door",
    "door-lock-v3": "lock the door by turning the lock",
    "door-open-v3": "open the door",
    "door-unlock-v3": "unlock the door by turning the lock",
    "hand-insert-v3": "insert the gripper into the hole",
    "drawer-close-v3": "close the drawer",
    "drawer-open-v3": "open the drawer",
    "faucet-open-v3": "turn the faucet on",
    "faucet-close-v3": "turn the faucet off",
    "hammer-v3": "hammer the nail into the wall",
    "handle-press-side-v3": "press the handle down from the side",
    "handle-press-v3": "press the handle down",
    "handle-pull-side-v3": "pull the handle up from the side",
    "handle-pull-v3": "pull the handle up",
    "lever-pull-v3": "pull the lever up",
    "pick-place-wall-v3": "pick up the puck and place it at the goal behind the wall",
    "pick-out-of-hole-v3": "pick the peg out of the hole",
    "pick-place-v3": "pick up the puck and place it at the goal",
    "plate-slide-v3": "slide the plate into the goal",
    "plate-slide-side-v3": "slide the plate sideways into the goal",
    "plate-slide-back-v3": "slide the plate back out of the goal",
    "plate-slide-back-side-v3": "slide the plate sideways back out of the goal",
    "peg-insert-side-v3": "insert the peg into the hole from the side",
    "peg-unplug-side-v3": "unplug the peg from the side",
    "soccer-v3": "kick the ball into the goal",
    "stick-push-v3": "use the stick to push the bottle",
    "stick-pull-v3": "use the stick to pull the bottle",
    "push-v3": "push the puck to the goal",
    "push-wall-v3": "push the puck to the goal behind the wall",
    "push-back-v3": "pull the puck back to the goal",
    "reach-v3": "reach the goal position",
    "reach-wall-v3": "reach the goal position behind the wall",
    "shelf-place-v3": "put the puck on the shelf",
    "sweep-into-v3": "sweep the puck into the hole",
    "sweep-v3": "sweep the puck off the table",
    "window-open-v3": "slide the window open",
    "window-close-v3": "slide the window closed",
}

MT10_TASKS = (
    "reach-v3", "push-v3", "pick-place-v3", "door-open-v3", "drawer-open-v3", "drawer-close-v3",
    "button-press-topdown-v3", "peg-insert-side-v3", "window-open-v3", "window-close-v3",
)


def _suite(name: str, tasks: tuple[str, ...], description: str) -> SuiteSpec:
    return SuiteSpec(
        name=name,
        env="metaworld",
        tasks=tuple(TaskSpec(t, INSTRUCTIONS[t], MAX_PATH_LENGTH, 50) for t in tasks),
        episodes_per_task=50,
        execute_steps=1,
        env_kwargs={"suite": name},
        description=description,
    )


MT10 = _suite("mt10", MT10_TASKS, "Meta-World MT10: 10 tasks x 50 fixed variations, 500 steps")
MT50 = _suite("mt50", tuple(INSTRUCTIONS), "Meta-World MT50: 50 tasks x 50 fixed variations, 500 steps")
