"""Pure call-center logic: no I/O, no imports from the rest of ccd."""
