"""Server limits: the ``[finassist.server]`` section of the settings (read at the edge).

``ServerOptions`` is :class:`finassist.config.ServerSettings`; ``create_app(settings)`` uses
``settings.server`` unless a test passes other options.
"""

from __future__ import annotations

from finassist.config import ServerSettings as ServerOptions

MODEL_NAME = "finassist"

__all__ = ["MODEL_NAME", "ServerOptions"]
