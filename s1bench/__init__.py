"""s1bench: a SMETS1 device emulator and migration test harness.

The rooms of the repository (emulator/, firmware_profiles/, hil/, harness/)
install as subpackages of this one import package so that their short names
never collide with other distributions on PyPI.
"""

__version__ = "0.1.0"
