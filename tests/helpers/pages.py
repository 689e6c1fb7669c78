"""What a rendered page makes the browser load or link, for the site's safety checks."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path


class Refs(HTMLParser):
    """Collects every attribute that makes the browser load or link something."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []  # src=, <link href=>
        self.links: list[tuple[str, dict[str, str | None]]] = []  # <a href=>
        self.inline_scripts = 0
        self.style_attrs = 0
        self.csp: list[str] = []
        self.handlers: list[str] = []  # on* attributes: an injected event handler

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.handlers += [f"{tag} {k}" for k in a if k.startswith("on")]
        if "style" in a:
            self.style_attrs += 1
        if tag == "script" and not a.get("src"):
            self.inline_scripts += 1
        if a.get("src"):
            self.loads.append(a["src"] or "")
        if tag == "link" and a.get("href"):
            self.loads.append(a["href"] or "")
        if tag == "a" and a.get("href"):
            self.links.append((a["href"] or "", a))
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp.append(a.get("content") or "")


def refs(path: Path) -> Refs:
    r = Refs()
    r.feed(path.read_text(encoding="utf-8"))
    return r
