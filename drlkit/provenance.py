"""Where a training run's numbers come from: the clock of its training steps (less the time it was
stopped), the segments a resumed run ran in (each with its hardware and precision), the budget
that a card reports, and the card itself (DESIGN §4: every number says what made it)."""

from __future__ import annotations

import dataclasses
import json
import signal
import statistics
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from drlkit.config import ModelConfig
from drlkit.loss import INVARIANCE_TEMPERATURE
from drlkit.methods import METHODS
from drlkit.preprocess import VALUE_RANGE

VIEW_NOTES = {"none": "", "same": "; encoder and score net on one augmented view",
              "novel": "; encoder on one augmented view, score net denoises another"}
DEFAULT_T_SAMPLER = "uniform-t"


class StepClock:
    """Seconds spent in training steps, less the time the process was stopped.

    A run is sometimes stopped (`kill -STOP`) to free the cores for another job and continued
    later (`kill -CONT`). The process cannot see itself stop, only continue (SIGCONT), so the
    step during which it continued is counted at the median of the recent steps, and the rest of
    that step's time goes to `paused`. Slowdowns from sharing the cores are not detected.
    """

    def __init__(self, window: int = 25) -> None:
        self.recent: deque[float] = deque(maxlen=window)
        self.continued = False
        self.paused = 0.0

    def on_continue(self, *_: Any) -> None:
        """The SIGCONT handler."""
        self.continued = True

    def count(self, seconds: float) -> float:
        """The seconds to count for a step that took `seconds` of wall time."""
        continued, self.continued = self.continued, False
        if continued and self.recent:
            typical = statistics.median(self.recent)
            if seconds > typical:
                self.paused += seconds - typical
                return typical
        self.recent.append(seconds)
        return seconds

    @contextmanager
    def listening(self) -> Iterator[StepClock]:
        """Install `on_continue` for SIGCONT while training (main thread, POSIX only)."""
        sig = getattr(signal, "SIGCONT", None)
        if sig is None or threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.signal(sig, self.on_continue)
        try:
            yield self
        finally:
            signal.signal(sig, previous)


class RunRecord:
    """The time and the segments of one run, across the processes that resumed it.

    `elapsed`: seconds in training steps (all processes); `paused()`: seconds stopped; `segments`:
    one record per stretch of steps run by one process, {from_step, to_step, wall_time_s,
    paused_s, hardware, precision}, the last one the running one.
    """

    def __init__(self, hardware: str, precision: str) -> None:
        self.hardware, self.precision = hardware, precision
        self.elapsed, self.clock = 0.0, StepClock()
        self.paused_before = 0.0  # seconds stopped in earlier processes of a resumed run
        self.segments: list[dict[str, Any]] = []

    def count(self, seconds: float) -> None:
        """Add one step that took `seconds` of wall time."""
        self.elapsed += self.clock.count(seconds)

    def paused(self) -> float:
        return self.paused_before + self.clock.paused

    def start_segment(self, step: int) -> None:
        self.segments.append({
            "from_step": step, "to_step": step, "wall_time_s": 0.0,
            "paused_s": 0.0, "hardware": self.hardware, "precision": self.precision,
            "_elapsed_at_start": self.elapsed, "_paused_at_start": self.paused()})

    def closed_segments(self, step: int) -> list[dict[str, Any]]:
        """The segments so far, the running one ending at `step`."""
        out = []
        for seg in self.segments:
            seg = dict(seg)
            start = seg.pop("_elapsed_at_start", None)
            paused_start = seg.pop("_paused_at_start", None)
            if start is not None:
                seg["to_step"], seg["wall_time_s"] = step, round(self.elapsed - start, 1)
                seg["paused_s"] = round(self.paused() - paused_start, 1)
            if seg["to_step"] > seg["from_step"]:
                out.append(seg)
        return out

    def state(self, step: int) -> dict[str, str]:
        """The record as a training state's metadata."""
        return {"elapsed": repr(self.elapsed), "paused": repr(self.paused()),
                "segments": json.dumps(self.closed_segments(step))}

    def restore(self, meta: dict[str, str], step: int) -> None:
        """Continue the record of a saved state (`state`'s keys; older states lack some)."""
        self.elapsed = float(meta["elapsed"])
        self.paused_before = float(meta.get("paused", "0.0"))
        if "segments" in meta:
            self.segments = json.loads(meta["segments"])
        elif step:  # a state written before segments were recorded
            self.segments = [{"from_step": 0, "to_step": step,
                              "wall_time_s": round(self.elapsed, 1),
                              "hardware": "not recorded", "precision": "not recorded"}]

    def budget(self, step: int, batch_size: int) -> dict[str, Any]:
        """The card's budget: steps, images, training seconds and where they ran."""
        segments = self.closed_segments(step)

        def joined(key: str, now: str) -> str:
            values = {seg[key] for seg in segments}
            if len(values) <= 1:
                return values.pop() if values else now
            return "; ".join(f"steps {seg['from_step']}-{seg['to_step']}: {seg[key]}"
                             for seg in segments)

        return {"steps": step, "images_seen": step * batch_size,
                "wall_time_s": round(self.elapsed, 1),
                "wall_time_note": wall_time_note(segments),
                "paused_s": round(self.paused(), 1),
                "hardware": joined("hardware", self.hardware),
                "precision": joined("precision", self.precision),
                "segments": segments}


def wall_time_note(segments: list[dict[str, Any]]) -> str:
    unrecorded = [f"{seg['from_step']}-{seg['to_step']}" for seg in segments
                  if "paused_s" not in seg]
    if not unrecorded:
        return ("seconds in training steps; diagnostics, checkpoint writes and time stopped "
                "(kill -STOP; given as paused_s) excluded")
    return ("seconds in training steps; diagnostics and checkpoint writes excluded; time "
            "stopped (kill -STOP) is excluded and given as paused_s, except in steps "
            f"{', '.join(unrecorded)}, run before drlkit recorded it")


def training_card(tc, mc: ModelConfig, data_source: str, budget: dict[str, Any]) -> dict[str, Any]:
    """The card of a model trained with `tc` (a TrainConfig) into `mc`: what it is, how it was
    trained, on what, for how long; metrics are added by `drlkit eval --write-card`."""
    row = METHODS[tc.method]
    encoder = "t-conditioned encoder" if mc.t_conditioned else "static encoder"
    if row.diffusion and tc.t_sampler != DEFAULT_T_SAMPLER:
        encoder += f", {tc.t_sampler} t sampler"  # e.g. cifar10-coarse's uniform-sigma
    if tc.views != "none":
        encoder += f", {tc.views} views"
    if tc.invariance_weight:
        encoder += f", invariance {tc.invariance_weight:g}"
    if row.diffusion and mc.z_conditioning != "add":
        encoder += f", z {mc.z_conditioning}"
    loss = row.loss_name.format(weighting=mc.parameterization) + VIEW_NOTES[tc.views]
    if tc.invariance_weight:
        loss += (f"; + {tc.invariance_weight:g} x NT-Xent (temperature "
                 f"{INVARIANCE_TEMPERATURE:g}) between the two views' codes at one t per batch")
    return {
        "description": f"{row.card_name} on {tc.dataset} ({encoder})",
        "preprocessing": {"resolution": mc.image_size, "channels": mc.channels,
                          "value_range": list(VALUE_RANGE)},
        "training": {**dataclasses.asdict(tc), "loss": loss},
        "data": data_source,
        "budget": budget,
        "recommended_t": 0.5,
        "metrics": {},
    }
