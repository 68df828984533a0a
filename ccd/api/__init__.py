"""ccd.api."""
