"""maintenance layer."""
