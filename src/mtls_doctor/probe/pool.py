"""Run probe work on a few threads so that Ctrl-C (or SIGTERM) ends the command at once.

``concurrent.futures.ThreadPoolExecutor`` cannot do that: leaving its ``with`` block waits for
every queued job, and its threads are joined at interpreter exit, so an interrupted
``probe --targets`` of silent servers ran on until each queued target had timed out. Here:

Invariants:
- at most ``workers`` jobs run at a time; results are yielded in completion order;
- the worker threads are daemon threads and the caller waits in short, interruptible steps:
  a ``KeyboardInterrupt`` (or any exception) in the caller sets ``stop``, so no queued job
  starts, and the exception propagates at once; a job already running is abandoned (its
  sockets close with the process; each step of it has its own timeout anyway);
- an exception raised by a job is re-raised in the caller, as ``Future.result()`` would.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_POLL = 0.2  # seconds between checks of the caller's wait (signals arrive between them)


def run_unordered(fn: Callable[[T], R], items: Iterable[T], workers: int,
                  stop: threading.Event | None = None) -> Iterator[tuple[T, R]]:
    """Yield ``(item, fn(item))`` as each job completes, ``workers`` at a time."""
    jobs = list(items)
    stop = stop or threading.Event()
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for job in jobs:
        todo.put(job)
    done: queue.SimpleQueue = queue.SimpleQueue()

    def work() -> None:
        while not stop.is_set():
            try:
                job = todo.get_nowait()
            except queue.Empty:
                return
            try:
                done.put((job, True, fn(job)))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                done.put((job, False, exc))

    for _ in range(max(1, min(workers, len(jobs)))):
        threading.Thread(target=work, daemon=True, name="mtls-doctor-probe").start()
    try:
        for _ in jobs:
            while True:
                try:
                    job, ok, value = done.get(timeout=_POLL)
                    break
                except queue.Empty:
                    continue
            if not ok:
                raise value
            yield job, value
    finally:
        stop.set()  # interrupted, failed or finished: no queued job starts any more


__all__ = ["run_unordered"]
