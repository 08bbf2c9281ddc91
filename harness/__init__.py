"""The harness room: plays the DCC side (DSP / S1SP / SMSO) against installations.

It sees only what a real DCC sees (responses, alerts, timings) and never
reaches into a device object.
"""
