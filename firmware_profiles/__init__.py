"""The firmware profile catalogue: declarative files matched on manufacturer,
model and firmware range, and the small set of quirk behaviours they switch on.
"""
