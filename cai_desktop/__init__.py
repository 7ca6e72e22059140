"""CAI Desktop: Constitutional AI on one workstation."""

__version__ = "0.1.0"
