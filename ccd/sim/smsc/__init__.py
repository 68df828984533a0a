"""The SMSC double: an SMPP 3.4 server on loopback standing in for a carrier's SMSC."""
