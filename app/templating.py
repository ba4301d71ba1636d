"""The one Jinja2 environment: autoescaped templates from the top-level `templates/` folder."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from app.config import PROJECT_ROOT

__all__ = ["TEMPLATES_DIR", "environment", "render"]

TEMPLATES_DIR = PROJECT_ROOT / "templates"

environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
    enable_async=False,
)


def render(template_name: str, /, **context: Any) -> str:
    """Render a template to a string (autoescaped; a missing variable is an error, not blank)."""
    return environment.get_template(template_name).render(**context)
