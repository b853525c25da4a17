"""Regenerate the synthetic power traces in this folder (deterministic, seeded).

Run: ``python -m profiler.traces.synthesize``. Every trace here is *synthetic*: shaped
after the bursty power of LLM decoding (short high-power steps with lower-power gaps),
not measured on any GPU. See README.md.
"""

from __future__ import annotations

import random
from pathlib import Path

from profiler.hardware.fake import PowerTrace

HERE = Path(__file__).resolve().parent
MS = 0.001


class _Builder:
    """Accumulates step segments on a 1 ms grid."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.powers: list[float] = []
        self.t_ms = 0

    def hold(self, power_w: float, ms: int) -> None:
        if ms <= 0:
            return
        if self.powers and self.powers[-1] == round(power_w, 1):
            self.t_ms += ms  # merge equal neighbours to keep the file small
            return
        self.times.append(self.t_ms * MS)
        self.powers.append(round(power_w, 1))
        self.t_ms += ms

    def build(self, name: str) -> PowerTrace:
        times = [*self.times, self.t_ms * MS]
        powers = [*self.powers, self.powers[0]]  # end marker; its power is never used (step)
        return PowerTrace(tuple(round(t, 3) for t in times), tuple(powers), "step", name=name)


def decode_bursty_periodic() -> PowerTrace:
    """60 s of strictly periodic 40 ms bursts at 300 W with 60 ms gaps at 70 W."""
    b = _Builder()
    for _ in range(600):
        b.hold(300.0, 40)
        b.hold(70.0, 60)
    return b.build("decode_bursty_periodic")


def decode_bursty_jitter(seed: int = 1) -> PowerTrace:
    """60 s of bursts of 30-50 ms at 280-320 W, gaps of 10-150 ms at 65-90 W."""
    rng = random.Random(seed)
    b = _Builder()
    while b.t_ms < 60_000:
        b.hold(rng.uniform(280, 320), rng.randint(30, 50))
        b.hold(rng.uniform(65, 90), rng.randint(10, 150))
    return b.build("decode_bursty_jitter")


def serving_mix(seed: int = 2) -> PowerTrace:
    """About 60 s of requests: prefill burst, token-by-token decode, idle gap between requests.

    Prefill 80-400 ms at 330-370 W; decode 20-200 tokens, each a 20-30 ms step at
    240-280 W followed by 3-8 ms at 150 W (host-side sampling/scheduling); then 0.3-3 s
    idle at 62-68 W.
    """
    rng = random.Random(seed)
    b = _Builder()
    while b.t_ms < 60_000:
        b.hold(rng.uniform(330, 370), rng.randint(80, 400))
        for _ in range(rng.randint(20, 200)):
            b.hold(rng.uniform(240, 280), rng.randint(20, 30))
            b.hold(150.0, rng.randint(3, 8))
        b.hold(rng.uniform(62, 68), rng.randint(300, 3000))
    return b.build("serving_mix")


def batch_serving_smooth(seed: int = 3) -> PowerTrace:
    """About 60 s of a saturated offline batch: power drifting linearly between 200 and 340 W.

    Breakpoints every 0.5-3 s, linear in between: the slow swing of a GPU kept full by a
    large batch as sequence lengths and batch fill change, with no per-token bursts. This
    is the kind of trace a 20 Hz sampler resolves (and should not flag).
    """
    rng = random.Random(seed)
    times = [0.0]
    powers = [round(rng.uniform(200, 340), 1)]
    while times[-1] < 60.0:
        times.append(round(times[-1] + rng.uniform(0.5, 3.0), 3))
        powers.append(round(rng.uniform(200, 340), 1))
    powers[-1] = powers[0]  # periodic: the replay wraps without a jump
    return PowerTrace(tuple(times), tuple(powers), "linear", name="batch_serving_smooth")


def main() -> None:
    """Write every trace as ``<name>.csv`` next to this file."""
    for make in (decode_bursty_periodic, decode_bursty_jitter, serving_mix, batch_serving_smooth):
        trace = make()
        doc = (make.__doc__ or "").strip().splitlines()[0]
        trace.to_csv(
            HERE / f"{trace.name}.csv",
            comments=[
                f"{trace.name}: SYNTHETIC, not measured. {doc}",
                f"made by: python -m profiler.traces.synthesize ({make.__name__})",
                f"duration_s: {trace.duration_s:.3f}  exact_energy_j: {trace.period_energy_j:.3f}",
            ],
        )
        print(f"{trace.name}: {len(trace.times_s)} rows, {trace.duration_s:.1f} s, {trace.period_energy_j:.1f} J")


if __name__ == "__main__":
    main()
