"""Wall and process-CPU seconds of each step of a run, for the stage summary and the benchmark."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class StepClock:
    """Seconds per named step, measured lap by lap from the clock's creation."""

    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    _wall: float = field(default_factory=time.perf_counter, repr=False)
    _cpu: float = field(default_factory=time.process_time, repr=False)

    def lap(self, step: str) -> None:
        """Record the time since the previous lap (or the start) under ``step``."""
        wall, cpu = time.perf_counter(), time.process_time()
        self.seconds[step], self.cpu_seconds[step] = round(wall - self._wall, 2), round(cpu - self._cpu, 2)
        self._wall, self._cpu = wall, cpu
