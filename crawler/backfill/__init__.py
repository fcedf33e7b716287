"""`newsmill backfill`: a source's sitemap history, in parts recorded in the database."""
