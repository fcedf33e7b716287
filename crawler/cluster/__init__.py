"""A cluster of crawl workers over PostgreSQL: procrastinate's queue, jobs and workers."""
