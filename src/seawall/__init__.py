"""Seawall: a self-hostable trust-and-safety engine against terrorist and violent-extremist content."""

__version__ = "0.1.0"
