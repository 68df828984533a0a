"""ccd: a call-center back end that runs beside Asterisk."""

__version__ = "0.1.0"
