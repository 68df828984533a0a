"""Messaging beyond calls: contacts' consent and channel choice, segments, templates, the
frequency cap, one Channel interface (channel.py) and its channels: email, fax (SendFAX()
through the engine's Pbx and trunks), and sms/ (the SMPP adapter: nothing outside it knows
SMPP).
"""
