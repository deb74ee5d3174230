"""The Prometheus exposition rendered in a forked child process, so the service's GIL is never held for it.

Collecting and formatting 40k samples is ~0.3 s of pure Python. On a worker thread it still holds the GIL that the
event loop needs, so every call in progress waits behind it (issue 10). Here each rendering is a `fork()` made on
the event-loop thread: the child sees a copy-on-write snapshot of the registry as it was at that instant (so the
exposition is consistent), renders it with prometheus_client's own encoder, writes the bytes to a pipe and leaves
with `os._exit`; the loop only reads the pipe as it becomes readable. What the loop pays is the fork itself (copying
the page tables, ~1 ms per 100 MB of resident memory; bench/scrape_impact.py measures it) and the pipe reads.

Fork safety, honestly: a forked child owns only the thread that forked, so a lock another thread held at that
instant stays locked in the child forever. The fork is made on the loop thread, which is the only thread that
changes instruments (worker threads load dialplans, check passwords and call the CRM; none touches metrics), so no
instrument lock can be held then. The registry's own lock is taken around the fork (a registration on another
thread waits a moment) and replaced by a fresh one in the child; logging reinitialises its locks after a fork
itself; the child does not log. Should anything still block the child, the deadline kills it and the scrape gets
`RenderingUnavailable` (a 503), never a hang. The child never returns into the event loop (uvloop/Twisted must not
run there): it resets the signal handlers and the loop's signal wake-up fd, closes every inherited descriptor but
its pipe (so a call's socket the service closes meanwhile really closes, and no signal wakes the parent's loop),
disables the garbage collector (it would touch every object, copying every page), and leaves with `os._exit`
whatever happens: no atexit handlers, no flushing of inherited stdio buffers.
"""
from __future__ import annotations

import asyncio
import gc
import os
import signal
import threading
import time
from typing import Callable, NoReturn

from prometheus_client import CollectorRegistry

Encoder = Callable[[CollectorRegistry], bytes]

_RENDERED = 0
_COLLECTOR_RAISED = 70  # EX_SOFTWARE: a collector or the encoder raised in the child
_CHILD_BROKEN = 71  # EX_OSERR: the child could not detach from the parent or write its pipe
_PIPE_SIZE = 1 << 20  # fewer wake-ups of the loop for a multi-megabyte exposition (Linux caps it at pipe-max-size)
_CHUNK = 1 << 20


class RenderingFailed(Exception):
    """The registry could not be rendered: a collector (or the encoder) raised in the child."""


class RenderingUnavailable(Exception):
    """The rendering child did not finish within its deadline, or died, or could not be started."""


class ForkedRendering:
    """Starts renderings of one registry in forked children and collects their output on the event loop.

    `deadline` bounds one rendering (the child is killed after it). The child runs `niceness` steps nicer than the
    service: on a busy machine the calls get the CPU first and the scrape waits (bench/scrape_impact.py: at nice 0
    the child took a core from the calls and added 5 ms to their p99, at +19 1.5 ms). On a saturated machine a
    rendering may then pass its deadline: that scrape fails (503), not the calls. `fork_seconds` holds how long each fork held the loop (`fork_cpu_seconds`: the CPU it
    took, without the time the machine gave to others), the last `keep` of them, for the benchmark and for anyone
    wondering what a scrape costs the calls.
    """

    def __init__(self, registry: CollectorRegistry, deadline: float = 10.0, niceness: int = 19, keep: int = 256,
                 fork: Callable[[], int] = os.fork) -> None:
        self._registry = registry
        self._deadline = deadline
        self._niceness = niceness
        self._keep = keep
        self._fork = fork
        self.fork_seconds: list[float] = []
        self.fork_cpu_seconds: list[float] = []

    def start(self, encoder: Encoder) -> asyncio.Future[bytes]:
        """Forks a child that renders the registry with `encoder`; the future has its bytes, or raises
        `RenderingFailed` / `RenderingUnavailable`. Must be called on the event-loop thread."""
        loop = asyncio.get_running_loop()
        result: asyncio.Future[bytes] = loop.create_future()
        try:
            read_fd, write_fd = os.pipe()
        except OSError as error:
            result.set_exception(RenderingUnavailable(f"no pipe for the rendering: {error}"))
            return result
        _widen(write_fd)
        registry_lock = self._registry._lock
        started, started_cpu = time.perf_counter(), time.thread_time()
        try:
            with registry_lock:
                pid = self._fork()
                if pid == 0:
                    _render_in_child(encoder, self._registry, write_fd, self._niceness)
        except OSError as error:
            os.close(read_fd)
            os.close(write_fd)
            result.set_exception(RenderingUnavailable(f"cannot fork the renderer: {error}"))
            return result
        self.fork_seconds.append(time.perf_counter() - started)
        self.fork_cpu_seconds.append(time.thread_time() - started_cpu)
        del self.fork_seconds[:-self._keep], self.fork_cpu_seconds[:-self._keep]
        os.close(write_fd)
        _ChildOutput(loop, pid, read_fd, self._deadline, result).watch()
        return result


class _ChildOutput:
    """One child's pipe, read on the loop until EOF, then the child reaped; a deadline kills a stuck child."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pid: int, read_fd: int, deadline: float,
                 result: asyncio.Future[bytes]) -> None:
        self._loop = loop
        self._pid = pid
        self._fd = read_fd
        self._result = result
        self._chunks: list[bytes] = []
        self._killed = False
        self._timer = loop.call_later(deadline, self._kill)

    def watch(self) -> None:
        os.set_blocking(self._fd, False)
        self._loop.add_reader(self._fd, self._readable)

    def _readable(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, _CHUNK)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._loop.remove_reader(self._fd)
                os.close(self._fd)
                self._reap()
                return
            self._chunks.append(chunk)

    def _kill(self) -> None:
        self._killed = True
        try:
            os.kill(self._pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _reap(self) -> None:
        """The pipe is closed, so the child is exiting: collect its status (retrying on the loop for the few
        microseconds between its descriptors closing and its becoming a zombie)."""
        try:
            pid, status = os.waitpid(self._pid, os.WNOHANG)
        except ChildProcessError:  # someone else reaped it: trust only a complete-looking output
            pid, status = self._pid, -1
        if pid == 0:
            self._loop.call_later(0.001, self._reap)
            return
        self._timer.cancel()
        if self._result.done():
            return
        code = os.waitstatus_to_exitcode(status) if status >= 0 else None
        if code == _RENDERED:  # it wrote everything before exiting
            self._result.set_result(b"".join(self._chunks))
        elif code == _COLLECTOR_RAISED:
            self._result.set_exception(RenderingFailed("a collector raised while rendering the registry"))
        elif self._killed:
            self._result.set_exception(RenderingUnavailable("the rendering did not finish within its deadline"))
        else:
            self._result.set_exception(RenderingUnavailable(f"the rendering child ended with status {code}"))


def _widen(fd: int) -> None:
    try:
        import fcntl
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_SIZE)
    except (ImportError, OSError):
        pass  # a smaller pipe only means more wake-ups


def _render_in_child(encoder: Encoder, registry: CollectorRegistry, out_fd: int, niceness: int) -> NoReturn:
    """The child's whole life: render, write, `os._exit` (never back into the loop, whatever is raised)."""
    code = _CHILD_BROKEN
    try:
        registry._lock = threading.Lock()  # the parent held its lock across the fork: this copy stays locked
        _detach_from_parent(out_fd)
        os.nice(niceness)
        try:
            body = memoryview(encoder(registry))
        except BaseException:
            os._exit(_COLLECTOR_RAISED)
        while body:
            written = os.write(out_fd, body)
            body = body[written:]
        code = _RENDERED
    finally:
        os._exit(code)


def _detach_from_parent(out_fd: int) -> None:
    """Signals no longer reach the parent's loop, inherited descriptors are closed, the collector sleeps."""
    gc.disable()
    try:
        signal.set_wakeup_fd(-1)  # the parent's loop reads that socket: a signal here must not wake it
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
    except ValueError:
        pass  # not the main thread: Python's handlers never run here anyway
    os.closerange(3, out_fd)
    os.closerange(out_fd + 1, max(os.sysconf("SC_OPEN_MAX"), out_fd + 1))  # one close_range(2) on Linux
