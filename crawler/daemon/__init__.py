"""The daemon's side: scheduling (service), one process per crawl (child, worker), the status
file `newsmill sources` reads (status) and the daemon's log format (logs)."""
