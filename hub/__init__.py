"""Hookhub: a self-hosted, plugin-based webhook integration hub."""

__version__ = "0.1.0"
