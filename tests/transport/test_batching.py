"""act_each: a failure answers only the item that caused it, and no plain policy acts twice."""

import numpy as np

from vla_bench.transport.batching import act_each, as_batch_policy
from vla_bench.types import ActionDim, ActionSpec, EpisodeSpec, Observation

SPEC = ActionSpec((ActionDim("a", -1, 1),))


def obs(instruction):
    return Observation({}, np.ones(1, np.float32), instruction)


class Counting:
    """A plain policy that counts its act calls and refuses the instruction 'poison'."""

    name = "counting"

    def reset(self, episode, action_spec):
        self.calls = 0

    def act(self, o):
        self.calls += 1
        if o.instruction == "poison":
            raise ValueError("poisoned")
        return [[self.calls]]

    def metadata(self):
        return {}


def test_per_session_items_fail_alone_and_nobody_acts_twice():
    built = []
    batch = as_batch_policy(lambda: built.append(Counting()) or built[-1])
    for s in "abc":
        batch.reset_session(s, EpisodeSpec("s", "t", 0), SPEC)
    out = act_each(batch, [("a", obs("go")), ("b", obs("poison")), ("c", obs("go")), ("z", obs("go"))])
    assert [o.tolist() for o in (out[0], out[2])] == [[[1.0]], [[1.0]]]
    assert isinstance(out[1], ValueError) and "act before reset" in str(out[3])
    assert [p.calls for p in built] == [1, 1, 1]


class NativePicky:
    """A batch policy whose whole forward pass fails when any item is poisoned."""

    name = "native_picky"

    def __init__(self, chunks=None):
        self.calls, self.chunks = [], chunks

    def reset_session(self, session, episode, action_spec):
        pass

    def act_batch(self, items):
        self.calls.append([s for s, _ in items])
        if any(o.instruction == "poison" for _, o in items):
            raise ValueError("poisoned batch")
        return self.chunks if self.chunks is not None else [np.full((1, 1), len(s)) for s, _ in items]

    def close_session(self, session):
        pass

    def metadata(self):
        return {}


def test_native_batch_failure_is_retried_item_by_item():
    policy = NativePicky()
    out = act_each(policy, [("a", obs("go")), ("bb", obs("poison")), ("ccc", obs("go"))])
    assert out[0].tolist() == [[1.0]] and out[2].tolist() == [[3.0]] and out[0].dtype == np.float32
    assert isinstance(out[1], ValueError)
    assert policy.calls == [["a", "bb", "ccc"], ["a"], ["bb"], ["ccc"]]


def test_wrong_chunk_count_and_non_numeric_chunks_are_errors():
    out = act_each(NativePicky(chunks=[np.zeros(1)]), [("a", obs("go")), ("b", obs("go"))])
    assert all(isinstance(o, RuntimeError) and "1 chunks for 2" in str(o) for o in out)
    out = act_each(NativePicky(chunks=[np.zeros(1), np.array(["x"])]), [("a", obs("go")), ("b", obs("go"))])
    assert out[0].tolist() == [0.0] and isinstance(out[1], ValueError)
