"""ims — a self-hosted, Pixta Cloud–compatible image service."""

__version__ = "0.1.0"
