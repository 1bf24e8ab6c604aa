"""`vstream serve`: personal streams over HTTP, and the web page."""
