"""What the daemon tells its owner: source health, alerts (webhooks) and Prometheus metrics,
behind crawler.monitor.monitor.Monitor's three calls."""
