"""ccd.dialer."""
