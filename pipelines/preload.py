"""Imported by the extraction pool's forkserver, the process every worker is forked from.

What is imported and set up here is done once per crawl and inherited by every worker,
instead of being paid by each worker on its first page.
"""

import warnings

from pipelines.worker import warm_up

# Each worker runs the parent's main module again, as __mp_main__ (multiprocessing does, to
# find functions pickled by reference); pipelines.pool has the forkserver import it first,
# so that this is cheap, and runpy warns that the module is already imported. It is meant.
warnings.filterwarnings("ignore", message=r".* found in sys\.modules after import of package",
                        category=RuntimeWarning)

warm_up()
