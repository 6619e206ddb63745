"""finassist: a Chinese financial assistant platform that runs on your own machines."""

__version__ = "0.1.0"
