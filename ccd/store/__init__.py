"""ccd.store."""
