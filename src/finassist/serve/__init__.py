"""The HTTP server: OpenAI-compatible API, REST under /api, access control and the web UI.

>>> app = create_app(Settings.load())        # doctest: +SKIP
>>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from finassist.serve.app import create_app
from finassist.serve.options import ServerOptions

__all__ = ["ServerOptions", "create_app"]
