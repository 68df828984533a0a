"""ccd.inbound."""
