"""A progress bar over episodes: done/total, ETA, running success rate and error count."""

from __future__ import annotations

import sys
from typing import Any

from vla_bench.types import EpisodeResult, EpisodeStatus


class Progress:
    def __init__(self, total: int, initial: int = 0, enabled: bool = True) -> None:
        self.successes = self.counted = self.errors = self.retries = 0
        self._bar: Any = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, unit="ep", file=sys.stderr, dynamic_ncols=True,
                             smoothing=0.1, desc="episodes", mininterval=0.1 if sys.stderr.isatty() else 10.0)

    def update(self, result: EpisodeResult, advance: bool = True) -> None:
        if result.status is EpisodeStatus.ERROR:
            self.errors += 1
        else:
            self.counted += 1
            self.successes += result.success
        if self._bar is not None:
            if advance:
                self._bar.update(1)
            rate = f"{100 * self.successes / self.counted:.1f}%" if self.counted else "-"
            self._bar.set_postfix_str(f"success {rate} errors {self.errors} retries {self.retries}", refresh=False)

    def note_retry(self) -> None:
        self.retries += 1

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
