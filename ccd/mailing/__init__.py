"""Mailings: contacts' consent and channel choice, segments, templates, the frequency cap,
one Channel interface (channel.py) and its channels (email; fax and SMS plug in the same way).
"""
