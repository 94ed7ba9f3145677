"""Policies for tests that start ``vla-bench serve --plugin THIS_FILE`` (imported by the server only).

Both answer ``[[init_id, state.sum()]]`` so each client can check that it got its own answer, and both
refuse the instruction ``poison``: the plain one per item, the batch one for its whole forward pass.
"""

import time

import numpy as np

from vla_bench.registries import policies


class Picky:
    name = "picky"

    def __init__(self, delay_ms: float = 2.0):
        self.delay = delay_ms / 1000

    def reset(self, episode, action_spec):
        self.init_id = episode.init_id

    def act(self, obs):
        if obs.instruction == "poison":
            raise ValueError("the instruction 'poison' is refused")
        time.sleep(self.delay)
        return np.array([[self.init_id, float(obs.state.sum())]], np.float32)

    def metadata(self):
        return {"kind": "picky"}


class PickyBatch:
    name = "picky_batch"

    def __init__(self, delay_ms: float = 2.0):
        self.delay, self.init = delay_ms / 1000, {}

    def reset_session(self, session, episode, action_spec):
        self.init[session] = episode.init_id

    def act_batch(self, items):
        if any(o.instruction == "poison" for _, o in items):
            raise ValueError("the instruction 'poison' is refused")
        time.sleep(self.delay)
        return [np.array([[self.init[s], float(o.state.sum())]], np.float32) for s, o in items]

    def close_session(self, session):
        self.init.pop(session, None)

    def metadata(self):
        return {"kind": "picky_batch"}


policies.add("test_picky", Picky)
policies.add("test_picky_batch", PickyBatch)
