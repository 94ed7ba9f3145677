"""Instruction perturbations. Only verbs, function words and framing change: the task's object and
target words are never replaced or dropped (a test checks this on every suite instruction).
Recipes follow LIBERO-Plus/LIBERO-PRO (paraphrase, distractor clauses, equivalent instructions) and
HELM (casing and word-order noise, synonym substitution)."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym

from vla_bench.ood.base import Perturbation, PerturbationWrapper

SYNONYMS: dict[str, tuple[str, ...]] = {
    "pick": ("grab", "take"), "put": ("place", "set"), "place": ("put", "set"), "push": ("shove", "nudge"),
    "pull": ("draw", "tug"), "open": ("pull open",), "close": ("shut",), "press": ("push down", "hit"),
    "turn": ("rotate", "twist"), "move": ("shift", "bring"), "slide": ("glide", "shift"), "insert": ("fit", "slot"),
    "reach": ("go to", "get to"), "lift": ("raise",), "kick": ("boot",), "sweep": ("brush",),
    "use": ("employ",), "unplug": ("disconnect",), "hammer": ("drive",), "dunk": ("drop",),
    "into": ("inside",), "onto": ("on top of",), "off": ("away from",),
    "from": ("out of",), "behind": ("beyond",), "the": ("that",),
    # phrasal verbs are replaced as a whole, so "turn on" never becomes "rotate on"
    "pick up": ("lift up", "scoop up"), "turn on": ("switch on",), "turn off": ("switch off",),
}


def _tokens(text: str) -> list[str]:
    """Words, with the two-word phrases of SYNONYMS kept together as one token."""
    words, out, i = text.split(), [], 0
    while i < len(words):
        pair = " ".join(words[i: i + 2])
        if " " in pair and pair in SYNONYMS:
            out.append(pair)
            i += 2
        else:
            out.append(words[i])
            i += 1
    return out
TEMPLATES: tuple[tuple[str, ...], ...] = (
    ("{}",),
    ("please {}", "{} please"),
    ("can you {}", "now {}"),
    ("i would like you to {}", "go ahead and {}"),
    ("your task is to {}", "the goal here is to {}"),
    ("listen carefully, what i need from the robot right now is to {}", "before anything else, {}"),
)
DISTRACTORS = ("while the room stays quiet", "without worrying about the time", "as the light outside fades",
               "even though the music is playing", "just like yesterday")
EQUIVALENT: dict[str, tuple[str, ...]] = {
    "reach-v3": ("move the gripper to the goal position", "bring the hand to the goal position"),
    "push-v3": ("slide the puck over to the goal", "move the puck to the goal by pushing it"),
    "pick-place-v3": ("grasp the puck and put it at the goal", "lift the puck and set it down at the goal"),
    "door-open-v3": ("swing the door open", "pull the door open"),
    "drawer-open-v3": ("pull the drawer open", "slide the drawer out"),
    "drawer-close-v3": ("push the drawer shut", "slide the drawer in"),
    "button-press-topdown-v3": ("push the button down from above", "press down on the button from the top"),
    "peg-insert-side-v3": ("slide the peg sideways into the hole", "put the peg into the hole from the side"),
    "window-open-v3": ("push the window open", "open the window by sliding it"),
    "window-close-v3": ("push the window closed", "shut the window by sliding it"),
}


class _InstructionWrapper(PerturbationWrapper, gym.ObservationWrapper):
    """Replaces the instruction, transformed once per instruction the episode shows (once per episode,
    or once per subtask of a chained episode)."""

    pert: LanguagePerturbation

    def __init__(self, env: gym.Env, pert: LanguagePerturbation) -> None:
        super().__init__(env, pert)
        self.source: str | None = None
        self.text = ""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        self.source = None
        return super().reset(seed=seed, options=options)

    def observation(self, obs: dict[str, Any]) -> dict[str, Any]:
        if self.pert.severity == 0:
            return obs
        if obs["instruction"] != self.source:
            self.source, self.text = obs["instruction"], self.pert.transform(obs["instruction"])
        return {**obs, "instruction": self.text}


class LanguagePerturbation(Perturbation):
    kind = "language"

    def transform(self, text: str) -> str:
        raise NotImplementedError

    def wrap(self, env: gym.Env) -> PerturbationWrapper:
        return _InstructionWrapper(env, self)


class Synonym(LanguagePerturbation):
    name, unit, source = "synonym", "share of replaceable words replaced", "HELM synonym, LIBERO-Plus language"
    levels: ClassVar = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    description = "replace verbs and function words with synonyms"

    def transform(self, text):
        words = _tokens(text)
        idx = [i for i, w in enumerate(words) if w in SYNONYMS]
        chosen = self.rng.permutation(idx)[: int(round(self.param * len(idx)))] if idx else []
        for i in chosen:
            options = SYNONYMS[words[i]]
            words[i] = options[int(self.rng.integers(len(options)))]
        return " ".join(words)


class Paraphrase(LanguagePerturbation):
    name, unit, source = "paraphrase", "template tier", "LIBERO-PRO / LIBERO-Plus paraphrase"
    levels: ClassVar = (0, 1, 2, 3, 4, 5)
    description = "wrap the instruction in a framing template; higher tiers are longer and less direct"

    def transform(self, text):
        tier = TEMPLATES[self.param]
        return tier[int(self.rng.integers(len(tier)))].format(text)


class Distractor(LanguagePerturbation):
    name, unit, source = "distractor", "distractor clauses appended", "LIBERO-Plus language distractors"
    levels: ClassVar = (0, 1, 2, 3, 4, 5)
    description = "append irrelevant clauses"

    def transform(self, text):
        picks = self.rng.permutation(len(DISTRACTORS))[: self.param]
        return " ".join([text, *(DISTRACTORS[i] for i in picks)])


class CasingOrder(LanguagePerturbation):
    name, unit, source = "casing_order", "share of words re-cased / swapped", "HELM casing and word-order noise"
    levels: ClassVar = (0.0, 0.1, 0.2, 0.35, 0.5, 0.7)
    description = "random upper-casing and adjacent word swaps"

    def transform(self, text):
        words = text.split()
        for i in range(len(words)):
            if self.rng.random() < self.param:
                words[i] = words[i].upper()
        for i in range(len(words) - 1):
            if self.rng.random() < self.param / 2:
                words[i], words[i + 1] = words[i + 1], words[i]
        return " ".join(words)


class Equivalent(LanguagePerturbation):
    name, unit, source = "equivalent", "alternatives drawn from", "LIBERO-PRO instruction replacement"
    levels: ClassVar = (0, 1, 1, 2, 2, 2)
    description = "replace by an equivalent hand-written instruction (MT10); other tasks fall back to paraphrase"

    def transform(self, text):
        alts = EQUIVALENT.get(self.episode.task)
        if not alts:
            return TEMPLATES[min(self.param + 1, 5)][0].format(text)
        return alts[int(self.rng.integers(min(self.param, len(alts))))]
