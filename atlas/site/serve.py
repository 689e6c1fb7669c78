"""Local preview of a rendered site (``atlas serve``): ``http.server`` on 127.0.0.1 only.

The site works from file:// already; serving is for browsers or setups that restrict file://.
It binds to loopback so a preview never exposes a run on the network, and sends the same CSP
as the pages' meta tag plus ``nosniff``. It serves the site's files and nothing about the
machine: no folder listings, no hidden files or folders (the site's ``.atlas-site`` marker names
the run's absolute path), nothing whose real path lies outside the site (``..``, symlinks out),
and no server or Python version in its headers.
"""

from __future__ import annotations

import functools
import os
import urllib.parse
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO

from atlas.errors import AtlasError
from atlas.site.safe import SITE_CSP


class _Handler(SimpleHTTPRequestHandler):
    def version_string(self) -> str:
        return "atlas"  # not the Python version of the machine

    def send_head(self) -> BinaryIO | None:
        if not self._servable():
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        return super().send_head()

    def _servable(self) -> bool:
        """No segment of the URL path starts with a dot (``..``, ``.atlas-site``, ``.git/``),
        and the real path, symlinks followed, is the site folder or a visible path below it."""
        url = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        if any(part.startswith(".") for part in url.split("/")):
            return False
        root = os.path.realpath(self.directory)
        real = os.path.relpath(os.path.realpath(self.translate_path(self.path)), root)
        return real == "." or not any(p.startswith(".") for p in Path(real).parts)

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        """A folder without ``index.html`` is not found: its file names are not the site."""
        self.send_error(HTTPStatus.NOT_FOUND, "File not found")

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", SITE_CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: a preview should not flood the terminal


def make_server(site_dir: str | Path, port: int = 8000) -> ThreadingHTTPServer:
    """A server for ``site_dir`` on 127.0.0.1:``port`` (0 picks a free port); not yet serving."""
    root = Path(site_dir)
    if not (root / "index.html").is_file():
        raise AtlasError(f"no site at {str(root)!r}: index.html missing (run `atlas render` first)")
    if not 0 <= port <= 65535:
        raise AtlasError(f"port {port} out of range; valid: 0–65535")
    handler = functools.partial(_Handler, directory=str(root))
    try:
        return ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as e:
        raise AtlasError(f"cannot serve on 127.0.0.1:{port}: {e.strerror}; "
                         "try another --port") from e


def serve(site_dir: str | Path, port: int = 8000) -> None:
    """Serve ``site_dir`` until interrupted (Ctrl-C), printing the URL to open."""
    server = make_server(site_dir, port)
    host, real_port = server.server_address[:2]
    print(f"serving {site_dir} at http://{host}:{real_port}/  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
