"""Run one measurement in a fresh process with a timeout (peak RSS and crashes stay its own)."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable


def run_in_child(target: Callable, args: tuple, timeout: float) -> tuple[list[dict], bool]:
    """Call ``target(*args, queue)``; return what it put on the queue and whether it finished in time."""
    queue = mp.Queue()
    proc = mp.Process(target=target, args=(*args, queue))
    proc.start()
    proc.join(timeout)
    finished = not proc.is_alive()
    if not finished:
        proc.terminate()
    messages = []
    while not queue.empty():
        messages.append(queue.get())
    return messages, finished
