"""Simulation: the call-center simulator (pacing what-ifs) and the Asterisk protocol double."""
