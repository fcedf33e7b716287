"""The store: the data model (models.py), its migrations, the engines and every query newsmill
makes (database.py and the modules beside it), the spool that keeps articles through a database
outage. Nothing here imports Scrapy's item pipelines or the extraction workers."""
