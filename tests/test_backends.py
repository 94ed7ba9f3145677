from vla_bench.backends import AffinityQueue, Task
from vla_bench.protocol import WorkItem
from vla_bench.types import EpisodeSpec


def task(name, i):
    return Task(WorkItem(0, 0, EpisodeSpec("s", name, i)))


def test_workers_stay_on_their_own_task_and_spread_over_tasks():
    q = AffinityQueue()
    for name in ("a", "b", "c"):
        for i in range(3):
            q.put(task(name, i))
    seen = {0: [], 1: []}
    for _ in range(9):
        for w in (0, 1):
            if len(seen[0]) + len(seen[1]) < 9:
                seen[w].append(q.get(w).item.spec.task)
    assert seen[0][:3] == ["a", "a", "a"] and seen[1][:3] == ["b", "b", "b"]
    assert sorted(seen[0] + seen[1]) == sorted(["a", "b", "c"] * 3)
    assert len(set(seen[0])) + len(set(seen[1])) <= 4  # scenes built in all, vs 6 with a plain FIFO


def test_clear_keeps_stop_signals():
    q = AffinityQueue()
    q.put(task("a", 0))
    q.put(None)
    q.clear()
    assert q.get(0) is None
