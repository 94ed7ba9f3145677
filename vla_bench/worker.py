"""An env worker process: ``python -m vla_bench.worker``, possibly under another interpreter.

It reads JSON lines on stdin and answers on the stdout it was started with; everything libraries
print is sent to stderr so it cannot corrupt the channel. Only the light core is needed here (plus
the simulator): policies that need torch are reached over the websocket transport instead.

Messages in: {"cmd": "init", "config": RunConfig, "policies": {index: PolicyConfig}} then
{"cmd": "run", "item": {...}, "attempt": n, "fresh": bool}. Messages out: {"ready": true,
"simulators": {...}} and {"result": EpisodeResult}. EOF on stdin ends the worker.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import TextIO

from vla_bench.config import PolicyConfig, RunConfig
from vla_bench.plan import WorkItem


def _channel() -> TextIO:
    """Keep the real stdout for messages and point fd 1 at stderr for everything else."""
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", buffering=1)


def main() -> int:
    out = _channel()
    from vla_bench.executor import Executor

    executor: Executor | None = None
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["cmd"] == "init":
            cfg = RunConfig.model_validate(msg["config"])
            overrides = {int(k): PolicyConfig.model_validate(v) for k, v in msg.get("policies", {}).items()}
            executor = Executor(cfg, overrides)
            try:
                sims = executor.simulator_versions()
            except Exception:  # noqa: BLE001 - reported, episodes will record the error too
                sims = {"error": traceback.format_exc(limit=5)}
            out.write(json.dumps({"ready": True, "simulators": sims}) + "\n")
        elif msg["cmd"] == "run":
            assert executor is not None, "worker got 'run' before 'init'"
            result = executor.run(WorkItem.from_dict(msg["item"]), msg.get("attempt", 0), msg.get("fresh", False))
            out.write(json.dumps({"result": result.to_dict()}) + "\n")
    if executor is not None:
        executor.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
