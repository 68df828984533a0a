"""Messaging beyond calls: contacts' consent and channel choice, segments, templates, the
frequency cap, one Channel interface (channel.py) and its channels: email, and sms/ (the SMPP
adapter: nothing outside it knows SMPP); fax plugs in the same way.
"""
