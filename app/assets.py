"""The `/static` files (the admin's CSS and scripts, vendored libraries) and the `/docs` page.

Nothing is fetched from another site: Swagger UI is served from `static/vendor/` and started by
a static script, so `/docs` works offline and under a policy without inline scripts.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.config import PROJECT_ROOT

__all__ = ["STATIC_DIR", "install_assets"]

STATIC_DIR = PROJECT_ROOT / "static"
SWAGGER_UI = "/static/vendor/swagger-ui-5.36.0"

DOCS_HTML = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>leadlink API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{SWAGGER_UI}/swagger-ui.css">
<link rel="stylesheet" href="/static/docs.css">
</head>
<body>
<main id="swagger-ui"><noscript>The interactive API docs need JavaScript; the API itself is
described in <a href="/openapi.json">/openapi.json</a>.</noscript></main>
<script src="{SWAGGER_UI}/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script>
</body>
</html>
"""

docs_router = APIRouter(include_in_schema=False)


@docs_router.get("/docs")
async def api_docs() -> HTMLResponse:
    return HTMLResponse(DOCS_HTML)


def install_assets(app: FastAPI) -> None:
    """Serve `/static` and the API docs page on `app`."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(docs_router)
