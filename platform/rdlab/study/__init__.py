"""Studies: a validated spec (many trials), its search space, and the RD-point rows."""
