"""glassbench pytest plugin (options, fixtures, markers)."""
