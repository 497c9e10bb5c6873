"""Run an iterator in a background thread, a few chunks ahead of its consumer.

The import parses in this thread while the database does a batch's set-based work in
the caller's: those statements run with Python's GIL released, so parsing the next
batch costs no wall time. Memory stays flat: at most ``depth`` chunks wait at once.

The consumer must not release the GIL often and briefly (say, once per row handed to a
database driver): each time, taking it back waits for this thread to let go, up to the
interpreter's switch interval (5 ms). This thread lets go after every chunk, so a
consumer returning from a long call waits a fraction of a millisecond.
"""

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from types import TracebackType
from typing import Any

DEFAULT_CHUNK_SIZE = 100
DEFAULT_DEPTH = 256
_POLL_SECONDS = 0.1


class _End:
    """The iterator is exhausted."""


class _Failure:
    """The iterator raised; the consumer re-raises it."""

    def __init__(self, exception: BaseException) -> None:
        self.exception = exception


class ReadAhead[T]:
    """Iterate ``items`` in a background thread; use as a context manager.

    ``checkpoint`` (for example a stream's ``tell``) is called in the thread after each
    chunk; ``position`` is its value for the chunk being consumed.
    """

    def __init__(
        self,
        items: Iterable[T],
        *,
        checkpoint: Callable[[], Any] | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        depth: int = DEFAULT_DEPTH,
    ) -> None:
        self.position: Any = None
        self._items = items
        self._checkpoint = checkpoint
        self._chunk_size = chunk_size
        self._queue: queue.Queue[tuple[list[T], Any] | _End | _Failure] = queue.Queue(depth)
        self._stopping = threading.Event()
        # Cleared while the consumer does work that fetches row by row (see paused).
        self._running = threading.Event()
        self._running.set()
        self._thread = threading.Thread(target=self._produce, name="read-ahead", daemon=True)
        self._thread.start()

    def __enter__(self) -> "ReadAhead[T]":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Failure):
                raise item.exception
            chunk, self.position = item
            yield from chunk

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the thread after its current chunk while the consumer works.

        For work that hands the GIL over once per row (fetching rows from SQLite):
        with this thread parsing meanwhile, every row would wait for the GIL.
        """
        self._running.clear()
        try:
            yield
        finally:
            self._running.set()

    def close(self) -> None:
        """Stop the thread (after its current chunk) and wait for it."""
        self._stopping.set()
        self._running.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                pass
        self._thread.join()

    def _produce(self) -> None:
        iterator = iter(self._items)
        try:
            while not self._stopping.is_set():
                if not self._running.wait(_POLL_SECONDS):
                    continue
                chunk = list(islice(iterator, self._chunk_size))
                position = self._checkpoint() if self._checkpoint is not None else None
                if not chunk:
                    self._put(_End())
                    return
                self._put((chunk, position))
                # Hand the GIL over now if the consumer waits for it, rather than
                # after the interpreter's switch interval (5 ms): it may be waiting to
                # return from a database call, or for this chunk.
                time.sleep(0)
        except BaseException as exception:  # handed to the consumer, which re-raises it
            self._put(_Failure(exception))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def _put(self, item: tuple[list[T], Any] | _End | _Failure) -> None:
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                pass
