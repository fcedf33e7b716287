"""Imported by the extraction pool's forkserver, the process every worker is forked from.

What is imported and set up here is done once per crawl and inherited by every worker,
instead of being paid by each worker on its first page.
"""

import atexit
import os
import sys
import warnings
from multiprocessing import forkserver
from types import FrameType

from pipelines.extraction.pool import EXTRACTION_NICENESS


def _in_forkserver() -> bool:
    """Whether this import runs inside multiprocessing's forkserver, preloading."""
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        if frame.f_code is forkserver.main.__code__:
            return True
        frame = frame.f_back
    return False


IN_FORKSERVER = _in_forkserver()
if IN_FORKSERVER:
    # The workers' lower priority (see pipelines.extraction.pool), set before the imports below, which are
    # most of the forkserver's start-up; every worker forked from here inherits it. Only here:
    # a process without privileges cannot raise its priority again, and pipelines.extraction.preload
    # imported elsewhere (tests, tools) must not lower it.
    os.nice(EXTRACTION_NICENESS)
    # A library's warning about one page (a date it half understood, a tag it could not
    # parse) would land in the middle of the user's terminal, with nothing to act on; the
    # workers have no log of their own to put it in.
    warnings.simplefilter("ignore")

from common import startup  # noqa: E402 (after the priority is lowered)
from pipelines.extraction.worker import warm_up  # noqa: E402

# Each worker runs the parent's main module again, as __mp_main__ (multiprocessing does, to
# find functions pickled by reference); pipelines.extraction.pool has the forkserver import it first,
# so that this is cheap, and runpy warns that the module is already imported. It is meant.
warnings.filterwarnings("ignore", message=r".* found in sys\.modules after import of package",
                        category=RuntimeWarning)

warm_up()
# The workers are forked from here and inherit two things: everything loaded above, frozen
# out of the collector's reach (each full collection went through it, about 20 ms), and the
# crawl's pace for the young generation (extraction makes and frees thousands of containers a
# page; at Python's default the collector ran about every third page).
startup.settle()

# The forkserver stops when the crawl process is gone, and its interpreter teardown (numpy,
# lxml, trafilatura loaded) takes a tenth of a second, all the while holding the command's
# stdout and stderr open: whoever reads them waits that long for their end. It has nothing to
# flush or clean up then, so it leaves at once. (Its workers leave by os._exit anyway.)
if IN_FORKSERVER:
    atexit.register(os._exit, 0)
