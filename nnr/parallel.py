"""Running independent jobs on worker processes (parallel decoding and encoding).

The hot loops are compiled with mypyc and hold the GIL, so threads do not scale; the jobs run
in forked child processes instead.  A child inherits everything the parent prepared (the
stream bytes, parsed headers, the session state) without pickling; it sends back a small
pickled result per job and the job's numpy arrays as raw bytes, which the parent reads straight
into freshly allocated arrays (``readinto``), so nothing large crosses as Python objects.

Jobs are assigned to workers up front, largest first (by an estimated cost), each worker running
its share in job order; this process runs one share itself while N - 1 children run the others.
Where ``os.fork`` is not available (Windows), or this process runs other Python threads, the jobs
run in this process, in order; the results are the same either way.  Forking while another thread
works is not safe: numpy's OpenBLAS stops its thread pool before every ``fork``, and a thread in a
matrix product at that moment waits for the pool forever.  A job that fails in a child is run
again here, so the caller sees exactly the exception sequential work would have raised.
"""

from __future__ import annotations

import operator
import os
import pickle
import signal
import struct
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from nnr.errors import NNRUsageError

T = TypeVar("T")

_LEN = struct.Struct("<Q")


def cpu_count() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def resolve_workers(workers: object, argument: str = "workers") -> int:
    """``workers``: a non-negative integer; 0 means one per core."""
    if isinstance(workers, bool):
        raise NNRUsageError(f"{argument} must be a non-negative integer (0: one per core), got {workers!r}")
    try:
        n = operator.index(workers)  # type: ignore[arg-type]
    except TypeError:
        raise NNRUsageError(f"{argument} must be a non-negative integer (0: one per core), "
                            f"got {type(workers).__name__} {workers!r}") from None
    if n < 0:
        raise NNRUsageError(f"{argument} must be a non-negative integer (0: one per core), got {n}")
    return cpu_count() if n == 0 else n


def can_fork() -> bool:
    return hasattr(os, "fork") and sys.platform != "win32"


def may_fork() -> bool:
    """``fork`` is available and this is the process's only Python thread (see the module's
    docstring); otherwise warn once per call site and run the jobs here."""
    if not can_fork():
        return False
    others = threading.active_count() - 1
    if others > 0:
        warnings.warn(f"nnr: {others} other thread(s) running in this process: the work runs on this process only "
                      "(forking worker processes could hang a thread inside numpy/OpenBLAS)", RuntimeWarning, stacklevel=3)
        return False
    return True


class Failed:
    """Marks a job that raised in a child; the caller runs it again in-process."""

    __slots__ = ()


FAILED = Failed()


class Job(Generic[T]):
    """What a child returns for one job: a picklable value plus arrays sent as raw bytes."""

    def __init__(self, value: T, arrays: Sequence[np.ndarray] = ()) -> None:
        self.value = value
        self.arrays = list(arrays)


def assign(costs: Sequence[int], workers: int) -> list[list[int]]:
    """Longest-processing-time assignment of jobs to ``workers`` bins; each bin in job order."""
    bins: list[list[int]] = [[] for _ in range(workers)]
    load = [0] * workers
    for i in sorted(range(len(costs)), key=lambda i: -costs[i]):
        k = min(range(workers), key=load.__getitem__)
        bins[k].append(i)
        load[k] += max(1, costs[i])
    return [sorted(b) for b in bins if b]


def run(fn: Callable[[int], Job[T]], costs: Sequence[int], workers: int) -> list[Job[T] | Failed]:
    """``fn(i)`` for every job ``i`` (``len(costs)`` jobs) on up to ``workers`` processes.

    Returns, per job, its :class:`Job` or :data:`FAILED` (it raised in a child, or the child
    died).  With one worker, one job, no ``fork`` or other threads running, the jobs run here and
    exceptions propagate.
    """
    n = len(costs)
    if workers <= 1 or n <= 1 or not may_fork():
        return [fn(i) for i in range(n)]
    bins = assign(costs, min(workers, n))
    sys.stdout.flush()
    sys.stderr.flush()
    children: list[tuple[int, int, list[int]]] = []
    unread: set[int] = set()  # pipe ends not yet read (closed on an interrupt: no child blocks on them)
    finished = False
    try:
        for share in bins[1:]:
            rfd, wfd = os.pipe()
            pid = os.fork()
            if pid == 0:  # child: never returns
                os.close(rfd)
                _child(fn, share, wfd)
            os.close(wfd)
            children.append((pid, rfd, share))
            unread.add(rfd)
        out: list[Job[T] | Failed] = [FAILED] * n
        for i in bins[0]:  # this process is a worker too
            try:
                out[i] = fn(i)
            except Exception:
                break  # FAILED: the caller runs it again for its exception
        for pid, rfd, share in children:
            unread.discard(rfd)
            with os.fdopen(rfd, "rb", closefd=True) as f:
                try:
                    _receive(f, out)
                except (EOFError, OSError, pickle.UnpicklingError, struct.error):
                    pass  # the child died: its unreported jobs stay FAILED and run here
        finished = True
        return out
    finally:
        if not finished:  # Ctrl-C (or an error) here: stop the children now, do not wait for their work
            for pid, rfd, _ in children:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                if rfd in unread:
                    os.close(rfd)
        for pid, _, _ in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _child(fn: Callable[[int], Job[Any]], share: list[int], wfd: int) -> None:
    code = 0
    try:
        done: list[tuple[int, Job[Any] | None]] = []
        for i in share:
            try:
                done.append((i, fn(i)))
            except KeyboardInterrupt:
                os._exit(1)  # the parent was interrupted too: it reports it
            except BaseException:
                done.append((i, None))
                break  # later jobs of this share may depend on nothing, but the parent re-runs anyway
        with os.fdopen(wfd, "wb", closefd=True) as f:
            for i, job in done:
                if job is None:
                    head = pickle.dumps((i, False, None, []), protocol=pickle.HIGHEST_PROTOCOL)
                    f.write(_LEN.pack(len(head)) + head)
                    continue
                arrays = [np.ascontiguousarray(a) for a in job.arrays]
                meta = [(a.dtype.str, a.shape) for a in arrays]
                head = pickle.dumps((i, True, job.value, meta), protocol=pickle.HIGHEST_PROTOCOL)
                f.write(_LEN.pack(len(head)) + head)
                for a in arrays:
                    f.write(a.data.cast("B") if a.nbytes else b"")
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _read_exact(f: Any, n: int) -> bytes:
    b = f.read(n)
    if len(b) != n:
        raise EOFError
    return b  # type: ignore[no-any-return]


def _receive(f: Any, out: list[Any]) -> None:
    while True:
        first = f.read(_LEN.size)
        if not first:
            return
        if len(first) != _LEN.size:
            raise EOFError
        (size,) = _LEN.unpack(first)
        i, ok, value, meta = pickle.loads(_read_exact(f, size))
        if not ok:
            continue
        arrays = []
        for dtype, shape in meta:
            a = np.empty(shape, dtype=np.dtype(dtype))
            if a.nbytes:
                view = a.data.cast("B")
                got = 0
                while got < a.nbytes:
                    k = f.readinto(view[got:])
                    if not k:
                        raise EOFError
                    got += k
            arrays.append(a)
        out[i] = Job(value, arrays)
