"""A crawl process's start-up, kept short: the garbage collector paused, Scrapy's HTTP download
handler imported without walking the interpreter's stack. And the collector's pace for the
crawl that follows.

Start-up creates some hundred thousand objects that live as long as the process (modules,
classes, functions) and next to no garbage. With Python 3.11's thresholds the cyclic collector
runs about 260 times while the imports alone make them, a tenth of the start-up (robots.txt
was requested 0.1 s sooner without it). It is paused until the crawl is set up; then they are
frozen, out of the collector's generations, so that its full collections during the crawl
no longer go through them either.

During the crawl, every request and response makes and drops thousands of small containers
(Requests, Deferreds, headers, futures) that their reference counts free within a few
milliseconds. With Python's default threshold of 700 allocations the young generation was
collected about 270 times per 1,000 pages, 0.14-0.22 s of the crawl process's CPU (4-5% of
it), to find almost nothing. At 10,000 it is collected about 35 times per 1,000 pages; cyclic
garbage still goes, a few more thousand objects later.

Importing the handler defines a few deprecated aliases with Scrapy's create_deprecated_class,
which calls inspect.stack() only to learn the caller's module. inspect.stack() reads the source of
every frame on the stack and looks each one up in sys.modules (CPython issue #92041): about
80 ms of a crawl's start-up, from Scrapy's engine, some forty frames deep. While this import
runs, inspect.stack() gives the same frames without their source lines.
"""

from __future__ import annotations

import gc
import inspect
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


def _frames_only(context: int = 1) -> list[inspect.FrameInfo]:
    """inspect.stack(context) without the context: no source read, no module looked up."""
    frames = []
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        frames.append(inspect.FrameInfo(frame, code.co_filename, frame.f_lineno, code.co_name, None, None))
        frame = frame.f_back
    return frames


@contextmanager
def _light_stack() -> Iterator[None]:
    full, inspect.stack = inspect.stack, _frames_only  # type: ignore[assignment]
    try:
        yield
    finally:
        inspect.stack = full  # type: ignore[assignment]


def import_download_handler() -> None:
    if "scrapy.core.downloader.handlers.http11" in sys.modules:
        return
    with _light_stack():
        import scrapy.core.downloader.handlers.http11  # noqa: F401


# Allocations (net of deallocations) between two collections of the youngest generation;
# Python's default is 700. The older generations keep Python's own ratios.
CRAWL_GC_THRESHOLD = 10_000


def begin() -> None:
    gc.disable()


def end() -> None:
    """Start-up is over: the collector back on at the crawl's pace, what start-up made frozen.
    Safe to repeat."""
    if not gc.isenabled():
        settle()
        gc.enable()


def settle() -> None:
    """Freeze every object made so far and set the collector to the crawl's pace."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(CRAWL_GC_THRESHOLD, older, oldest)
