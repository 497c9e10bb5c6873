"""Pause Python's automatic garbage collection while imports run.

An import makes millions of short-lived objects (records, rows), and holds a batch and
the parser's read-ahead of them at once. The cyclic collector runs every 2,000 new
objects and walks every survivor each time, again and again: about a sixth of a large
import's time, measured, all of it holding the GIL the parsing thread needs (decision
record 10). It finds nothing: those objects form no reference cycles, so reference
counting frees each as soon as it is done with (a whole import leaves some twenty cyclic
objects behind, whatever the file's size). Memory stays as flat with it paused.

The switch is process-wide: paused while any import in the process runs, and resumed
when the last one ends, if it was running before the first began.
"""

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_imports_running = 0
_was_enabled = False


@contextmanager
def automatic_collection_paused() -> Iterator[None]:
    """Run the block with the cyclic garbage collector's automatic runs paused."""
    global _imports_running, _was_enabled
    with _lock:
        if _imports_running == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _imports_running += 1
    try:
        yield
    finally:
        with _lock:
            _imports_running -= 1
            if _imports_running == 0 and _was_enabled:
                gc.enable()
