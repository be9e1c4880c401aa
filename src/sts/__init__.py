"""STS, the MLB Statistics Tracking System."""

__version__ = "0.1.0"
