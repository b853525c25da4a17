"""Where :class:`~profiler.hardware.gpu_meters.SampledMeter` takes its background samples.

- :class:`ThreadSampler`: a thread of the measuring process. Works with any clock, a virtual
  one included (replayed traces in tests), but every sample takes the GIL from the measured
  code: on a pure-Python workload about 0.2 ms of the main thread's time per sample on the
  shared 2-core machine (``python bench/monitor_overhead.py``, 2026-12-05: +2.6 % at 100 Hz,
  +0.8-1.2 % at 20 Hz), which is why it is not what the NVML meters use.
- :class:`ProcessSampler`: a process of its own (a fresh interpreter: safe beside CUDA and
  threads), started once and kept across windows, told over a pipe when a window begins and ends. The
  measured process only sends two messages a window. Zeus polls power in a separate process
  for the same reason (``ml-energy/zeus``, ``zeus/monitor/power.py``, ``PowerMonitor``). The
  device and the clock are pickled to it: a fake replaying a trace in real time, or an
  :class:`~profiler.hardware.nvml.NvmlDevice`, which reopens itself there by its UUID.

Both take one sample per stratum ``[t0 + k I, t0 + (k + 1) I)`` of the meter's clock
(:func:`sample_strata`), at a random point of it when jittering.
"""

from __future__ import annotations

import os
import pickle
import random
import select
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol

from recommender.errors import MeasurementError

READY_TIMEOUT_S = 120.0
"""How long :class:`ProcessSampler` waits for its process to start (a fresh interpreter that
imports the hardware layer only, no pandas or pydantic: 0.07 s and 18 MB here; far longer on a
loaded node)."""

REPLY_TIMEOUT_S = 30.0
"""How long the end of a window waits for the sampling process's samples."""


@dataclass(frozen=True)
class Strata:
    """Samples a sampler took inside one window (not the meter's own begin and end samples).

    Attributes:
        times_s: When each sample was read, on the meter's clock, s.
        powers_w: The power read, W.
        cpu_s: CPU time the sampler used during the window (its thread's, or its process's), s.
    """

    times_s: tuple[float, ...]
    powers_w: tuple[float, ...]
    cpu_s: float


class Sampler(Protocol):
    """Takes power samples between :meth:`start` and :meth:`stop`."""

    def prepare(self) -> None:
        """Get ready to start at once (a process is launched here, before the window opens)."""

    def start(self, t0_s: float) -> None:
        """Begin sampling the strata after ``t0_s`` (the meter's first sample, its clock)."""

    def stop(self) -> Strata:
        """Stop and return the window's samples.

        Raises:
            MeasurementError: If reading the device failed while sampling.
        """

    def close(self) -> None:
        """Release the thread or process (idempotent; a later :meth:`start` starts again)."""


def sample_strata(
    read_power_mw: Callable[[], int],
    clock: Callable[[], float],
    wait: Callable[[float], bool],
    t0_s: float,
    interval_s: float,
    jitter: bool,
    rng: random.Random,
    times_s: list[float],
    powers_w: list[float],
) -> None:
    """Append one sample per stratum to ``times_s`` / ``powers_w`` until ``wait`` says stop.

    Args:
        read_power_mw: The device's power read, mW.
        clock: The meter's clock, s.
        wait: Waits ``seconds`` (or until told to stop: then returns True).
        t0_s: Start of stratum 0 on ``clock``.
        interval_s: Stratum length, s.
        jitter: A random point of each stratum (else its end).
        rng: Source of the random points.
        times_s, powers_w: Filled in place.
    """
    k = 0
    while True:
        offset = rng.random() if jitter else 1.0
        target = t0_s + (k + offset) * interval_s
        if wait(max(0.0, target - clock())):
            return
        power_w = read_power_mw() / 1000.0
        times_s.append(clock())
        powers_w.append(power_w)
        # Fell behind (the GIL or the CPU held long): skip missed strata instead of bursting.
        k = max(k + 1, int((clock() - t0_s) / interval_s))


class ThreadSampler:
    """Samples in a thread of this process (see the module doc).

    Args:
        device: Anything with ``power_mw()``.
        clock: The meter's clock, s.
        wait: How the thread waits ``seconds`` of ``clock`` time or until the stop event is set
            (returns whether it was set).
        interval_s: Stratum length, s.
        jitter: Random sample phase within each stratum.
        seed: Seed of the jitter.
    """

    def __init__(self, device: Any, clock: Callable[[], float], wait: Callable[[threading.Event, float], bool],
                 interval_s: float, jitter: bool, seed: int | None) -> None:
        self._device = device
        self._clock = clock
        self._wait = wait
        self._interval_s = interval_s
        self._jitter = jitter
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._times_s: list[float] = []
        self._powers_w: list[float] = []
        self._error: BaseException | None = None
        self._cpu_s = 0.0

    def _run(self, t0_s: float) -> None:
        cpu_start_s = time.thread_time()
        try:
            sample_strata(self._device.power_mw, self._clock, lambda s: self._wait(self._stop, s), t0_s,
                          self._interval_s, self._jitter, self._rng, self._times_s, self._powers_w)
        except BaseException as exc:  # noqa: BLE001 - raised again by stop(), not swallowed
            self._error = exc
        finally:
            self._cpu_s = time.thread_time() - cpu_start_s

    def prepare(self) -> None:
        """Nothing to prepare: a thread starts in well under a millisecond."""

    def start(self, t0_s: float) -> None:
        """Start the thread (see :class:`Sampler`)."""
        self._times_s, self._powers_w = [], []
        self._error, self._cpu_s = None, 0.0
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(t0_s,), name="eai-power-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> Strata:
        """Stop and join the thread (see :class:`Sampler`)."""
        self.close()
        if self._error is not None:
            raise MeasurementError(f"power sampling failed on GPU {getattr(self._device, 'index', '?')}: {self._error}")
        return Strata(tuple(self._times_s), tuple(self._powers_w), self._cpu_s)

    def close(self) -> None:
        """Stop and join the thread if one runs."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None


def _serve(conn: Any, payload: bytes, interval_s: float, jitter: bool, seed: int | None) -> None:
    """The sampling process's loop: ``ready``, then per window ``begin`` ... ``end`` -> samples."""
    try:
        device, clock = pickle.loads(payload)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("error", f"could not open the device in the sampling process: {exc!r}"))
        return
    conn.send(("ready",))
    rng = random.Random(seed)
    while True:
        try:
            msg = conn.recv()
        except EOFError:  # the parent went away
            return
        if msg[0] != "begin":
            return
        times_s: list[float] = []
        powers_w: list[float] = []
        cpu_start_s = time.process_time()
        error = ""
        try:
            sample_strata(device.power_mw, clock, conn.poll, float(msg[1]), interval_s, jitter, rng, times_s, powers_w)
        except BaseException as exc:  # noqa: BLE001 - sent to the parent, raised by its stop()
            error = f"{exc}"
        try:
            last = conn.recv()  # the "end" (or "close") that stopped the window
        except EOFError:  # the parent went away mid-window
            return
        conn.send(("samples", times_s, powers_w, time.process_time() - cpu_start_s, error))
        if last[0] != "end":
            return


class _Duplex:
    """One end of two one-way pipes, used like a :class:`multiprocessing.connection.Connection`."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._fd = read_fd
        self._r = Connection(read_fd, writable=False)
        self._w = Connection(write_fd, readable=False)

    def send(self, obj: Any) -> None:
        self._w.send(obj)

    def recv(self) -> Any:
        return self._r.recv()

    def poll(self, timeout_s: float = 0.0) -> bool:
        # select() on the descriptor itself: Connection.poll builds a selector per call, which
        # cost the sampling process a fifth of its CPU per sample (277 -> 225 us a sample at 20 Hz here).
        return bool(select.select([self._fd], [], [], timeout_s)[0])

    def close(self) -> None:
        self._r.close()
        self._w.close()


def main(argv: list[str] | None = None) -> None:
    """Entry of the sampling process (``main()`` with ``READ_FD WRITE_FD`` as arguments).

    The first message is the pickled device and clock with the rate, jitter and seed."""
    args = sys.argv[1:] if argv is None else argv
    conn = _Duplex(int(args[0]), int(args[1]))
    try:
        payload, interval_s, jitter, seed = conn.recv()
    except EOFError:
        return
    _serve(conn, payload, interval_s, jitter, seed)
    conn.close()


def _shutdown(process: subprocess.Popen[bytes], conn: _Duplex) -> None:
    """Ask the sampling process to exit; end it if it does not within 5 s."""
    try:
        conn.send(("close",))
    except OSError:
        pass  # the pipe is already closed: the process is gone or going
    try:
        process.wait(timeout=5.0)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5.0)
    conn.close()


class ProcessSampler:
    """Samples in a process of its own (see the module doc).

    The process is a fresh interpreter running :func:`main` (not a ``multiprocessing`` child,
    which would import the parent's ``__main__`` script again and run an unguarded one twice),
    started by :meth:`prepare` (before the first window) and kept until :meth:`close`, its pipes private to it.

    Args:
        device: Anything with ``power_mw()`` that pickles (an NVML device reopens by UUID).
        clock: The meter's clock, s; it must read the same time in another process
            (``time.perf_counter`` or a clock built on it, such as the fakes' real-time clock).
        interval_s: Stratum length, s.
        jitter: Random sample phase within each stratum.
        seed: Seed of the jitter.

    Raises:
        MeasurementError: If the device or the clock cannot be sent to another process.
    """

    def __init__(self, device: Any, clock: Callable[[], float], interval_s: float, jitter: bool, seed: int | None) -> None:
        try:
            self._payload = pickle.dumps((device, clock))
        except Exception as exc:
            raise MeasurementError(
                f"device {device!r} or clock {clock!r} cannot be sent to a sampling process ({exc}); "
                "sample in a thread instead (SampledMeter(..., sampler='thread'))"
            ) from exc
        self._label = getattr(device, "index", "?")
        self._interval_s = interval_s
        self._jitter = jitter
        self._seed = seed
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: _Duplex | None = None
        self._finalizer: Any = None
        self._open = False

    def prepare(self) -> None:
        """Start the process if it is not running (0.07 s here; once per meter)."""
        if self._process is not None and self._process.poll() is None:
            return
        self.close()
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        # The child finds this project as the parent does (a source checkout not installed too).
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", "from profiler.hardware.sampler import main; main()", str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w), env=env, stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            for fd in (to_child_r, to_child_w, from_child_r, from_child_w):
                os.close(fd)
            raise MeasurementError(f"could not start the power sampling process for GPU {self._label}: {exc}") from exc
        os.close(to_child_r)
        os.close(from_child_w)
        conn = _Duplex(from_child_r, to_child_w)
        self._process, self._conn = process, conn
        self._finalizer = weakref.finalize(self, _shutdown, process, conn)
        conn.send((self._payload, self._interval_s, self._jitter, self._seed))
        msg = self._reply(READY_TIMEOUT_S, "start")
        if msg[0] != "ready":
            self.close()
            raise MeasurementError(f"power sampling process for GPU {self._label} failed to start: {msg[1]}")

    def _reply(self, timeout_s: float, what: str) -> Any:
        assert self._conn is not None and self._process is not None
        try:
            if not self._conn.poll(timeout_s):
                raise MeasurementError(
                    f"power sampling process for GPU {self._label} did not answer {what} within {timeout_s:g} s"
                )
            return self._conn.recv()
        except (EOFError, OSError) as exc:
            raise MeasurementError(
                f"power sampling process for GPU {self._label} died (exit code {self._process.poll()}) during {what}"
            ) from exc

    def start(self, t0_s: float) -> None:
        """Start the process if it is not running, then open a window (see :class:`Sampler`)."""
        self.prepare()
        assert self._conn is not None
        self._conn.send(("begin", float(t0_s)))
        self._open = True

    def stop(self) -> Strata:
        """Close the window and fetch its samples (see :class:`Sampler`)."""
        if not self._open or self._conn is None:
            raise MeasurementError(f"power sampling process for GPU {self._label}: no window is open")
        self._open = False
        try:
            self._conn.send(("end",))
        except OSError as exc:
            raise MeasurementError(f"power sampling process for GPU {self._label} is gone: {exc}") from exc
        _, times_s, powers_w, cpu_s, error = self._reply(REPLY_TIMEOUT_S, "the end of a window")
        if error:
            raise MeasurementError(f"power sampling failed on GPU {self._label}: {error}")
        return Strata(tuple(times_s), tuple(powers_w), float(cpu_s))

    def close(self) -> None:
        """Stop the process (idempotent; the next :meth:`start` starts a new one)."""
        self._open = False
        if self._finalizer is not None:
            self._finalizer()  # runs _shutdown once
            self._finalizer = None
        self._process, self._conn = None, None
