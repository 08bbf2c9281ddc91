"""The emulator room: SMETS1 devices as actors on a HAN medium, real frame bytes.

Nothing here knows about test packs or reports; the harness drives it only
through Service Requests on the hub's WAN side.
"""
