"""Reproductions of the seed papers' claims at CPU scale (issue 9): specs, checks, runner."""
