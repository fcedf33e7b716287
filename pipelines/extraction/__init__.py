"""What runs in the extraction worker processes: decoding, trafilatura with newsmill's pruning
and metadata, the content hash and fingerprint of each page (worker.py), and the pool that runs
them off the reactor thread (pool.py, preload.py). Nothing here touches the database."""
