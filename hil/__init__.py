"""Hardware in the loop: bench files, the radio link on a Zigbee dongle, an emulated NCP.

``radio`` (the hub's HAN on zigpy-znp) and ``ncp`` (an emulated Z-Stack dongle
for CI) need the ``hil`` extra; nothing here is imported by the emulator.
"""
