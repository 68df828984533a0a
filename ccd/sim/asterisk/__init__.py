"""A protocol double of Asterisk 22 (ARI REST + websocket, AMI) for tests and `ccd demo`.

    double = AsteriskDouble(time_scale=0.01, trunk_caps={"city-trunk": 30})
    await double.start()                      # ARI on double.ari_url / ari_ws_url, AMI on
                                              # double.ami_host:ami_port, all on 127.0.0.1
    double.program("+74951234567", FarEnd.answer(after=2.0, hangup_after=30.0))
    cid = await double.inbound_call(did="5550013", caller="+74951112233")
    await double.hangup_far_end(cid)
    await double.restart(down_for=0.2)        # faults: drop_websockets, delay_rest, fail_rest,
                                              # ami_half_open, fail_recordings
    await double.stop()

Behaviour follows the recordings of a real Asterisk 22.10.1 (kept as test data in
tests/fixtures/asterisk-22); requests are routed and checked by Asterisk's ARI schema, shipped
in the package (ari_schema.json, see schema.py). Simulated seconds are multiplied by time_scale.
Channel and bridge recordings write real audio files, served by the stored-recordings routes
(recordings.py).
"""

from ccd.sim.asterisk.double import AsteriskDouble
from ccd.sim.asterisk.farend import FarEnd

__all__ = ["AsteriskDouble", "FarEnd"]
