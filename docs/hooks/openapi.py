"""MkDocs hook: the API page is generated from Seawall's own OpenAPI schema at build time.

``docs/api.md`` holds the marker ``<!-- openapi -->``; this replaces it with one table per tag
(method, path, summary) and writes the full schema next to the page as ``openapi.json``, so the
reference can never drift from the code.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.openapi")
MARKER = "<!-- openapi -->"
_schema: dict[str, Any] | None = None


def _load_schema() -> dict[str, Any]:
    global _schema
    if _schema is None:
        from seawall.api.app import create_app
        from seawall.config import Settings

        with tempfile.TemporaryDirectory() as tmp:
            app = create_app(Settings(data_dir=Path(tmp)))
            _schema = app.openapi()
            app.state.engine.close()
    return _schema


def _tables(schema: dict[str, Any]) -> str:
    by_tag: dict[str, list[tuple[str, str, str]]] = {}
    for path, ops in sorted(schema.get("paths", {}).items()):
        for method, op in ops.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            tag = (op.get("tags") or ["other"])[0]
            summary = (op.get("summary") or op.get("description") or "").strip().split("\n")[0]
            by_tag.setdefault(tag, []).append((method.upper(), path, summary.replace("|", "\\|")))
    out: list[str] = []
    for tag in sorted(by_tag):
        out += [f"### {tag}", "", "| method | path | what |", "|---|---|---|"]
        out += [f"| `{m}` | `{p}` | {s} |" for m, p, s in by_tag[tag]]
        out.append("")
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, _tables(_load_schema()))


def on_post_build(config: Any) -> None:
    target = Path(config["site_dir"]) / "openapi.json"
    target.write_text(json.dumps(_load_schema(), indent=1), encoding="utf-8")
    log.info("wrote %s", target)
