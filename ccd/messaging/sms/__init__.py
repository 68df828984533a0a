"""SMS over SMPP 3.4: the only package that knows SMPP.

encoding (GSM 03.38 / UCS-2, parts, UDH; pure), pdu (the codec), ratelimit, settings (one
link's configuration), link (one bound SMSC account), routes (which links serve a number;
pure), receipts (matching delivery receipts), mo (inbound messages and their parts), and
gateway, the face the rest of ccd uses: send(number, text, ref), receipts and inbound
messages through callbacks.
"""
