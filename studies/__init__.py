"""Runnable studies: rd_frontier.py, specs/, reproductions/, benchmarks/, tools/."""
