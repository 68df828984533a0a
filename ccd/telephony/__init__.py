"""Asterisk adapter: ARI and AMI clients, cause mapping, and the Pbx interface.

Nothing outside this package sees ARI or AMI wire formats; use `ccd.telephony.pbx`.
"""
