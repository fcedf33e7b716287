"""newsmill's read side on the web: the ASGI app of `newsmill serve`, its pages and JSON API."""
