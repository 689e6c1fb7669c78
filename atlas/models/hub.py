"""Default weights from the Hugging Face Hub, with no network: one line in seconds, not retries.

timm, open_clip and transformers fetch default weights through ``huggingface_hub``, which on a
machine without network retries each request for most of a minute before failing with a long
traceback. Before such a fetch, :func:`hub_access` checks in a few seconds whether the hub's
host answers at all; when it does not, the fetch runs in the hub's offline mode (the local cache
only), and a miss there is one :class:`AtlasError` line naming ``HF_HUB_OFFLINE``, which skips
the check. With ``HF_HUB_OFFLINE=1`` already set the libraries use the cache directly.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar
from urllib.parse import urlparse

from atlas.errors import AtlasError

T = TypeVar("T")
TIMEOUT = 4.0  # seconds the reachability check may take (DNS included)
TRUE = ("1", "true", "yes", "on")


def endpoint() -> str:
    """The hub's address as ``huggingface_hub`` uses it (``HF_ENDPOINT`` when set)."""
    try:
        from huggingface_hub import constants

        return str(constants.ENDPOINT)
    except ImportError:
        return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def offline_env() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in TRUE


def reachable(url: str, timeout: float = TIMEOUT) -> bool:
    """Whether a TCP connection to ``url``'s host opens within ``timeout`` seconds. Run in a
    thread so a resolver that hangs is bounded too."""
    u = urlparse(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    ok: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((u.hostname or "", port), timeout=timeout):
                ok.append(True)
        except OSError:
            ok.append(False)

    t = threading.Thread(target=connect, daemon=True)
    t.start()
    t.join(timeout)
    return bool(ok and ok[0])


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """The hub libraries' offline mode for the block (their flag is read at import, so the
    module constant is set as well as the environment), restored after."""
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    patched = []
    try:
        from huggingface_hub import constants

        patched.append((constants, constants.HF_HUB_OFFLINE))
        constants.HF_HUB_OFFLINE = True
    except ImportError:
        pass
    try:
        yield
    finally:
        for mod, value in patched:
            mod.HF_HUB_OFFLINE = value
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old


def hub_fetch(what: str, make: Callable[[], T]) -> T:
    """``make()``, which may fetch ``what`` from the hub; offline it fails in seconds with one
    line (see the module docstring)."""
    if offline_env():
        try:
            return make()
        except Exception as e:
            raise AtlasError(_missing(what, e, "HF_HUB_OFFLINE is set")) from None
    t0 = time.perf_counter()
    url = endpoint()
    if reachable(url):
        return make()
    host = urlparse(url).hostname or url
    with _offline():
        try:
            return make()
        except Exception as e:
            reason = f"{host} is not reachable (checked in {time.perf_counter() - t0:.0f} s)"
            raise AtlasError(_missing(what, e, reason)) from None


def _missing(what: str, e: Exception, reason: str) -> str:
    first = (str(e).strip().splitlines() or [""])[0][:160]
    return (f"could not load {what}: {reason} and it is not in the local Hugging Face cache "
            f"({type(e).__name__}: {first}); pass --weights path/to/file (model.weights) or "
            f"--weights none for random weights; on a machine without network set "
            f"HF_HUB_OFFLINE=1 to skip the check and use the cache only")
