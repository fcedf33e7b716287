"""Scrapy's item pipelines, in the order settings plug them in: extract.py (pages to the
extraction workers) -> dedup.py (canonical URL, content hash) -> store.py (batches into the
store), with stats.py, the counters they and the crawler share. Below them, two rooms:
extraction/ (what runs in the worker processes) and storage/ (the data model and every query).
Nothing under pipelines/ imports crawler/."""
