"""ReDoc's bundle, served from here with its one outside request pointed at this site.

drf-spectacular-sidecar ships ReDoc's standalone bundle, which asks cdn.redoc.ly for the
logo in its sidebar's footer (no option turns that off). The Content-Security-Policy
would refuse it; this serves the same bundle with that address replaced by a local
image, so the documentation loads nothing from outside and breaks no policy.
"""

from functools import lru_cache
from pathlib import Path

import drf_spectacular_sidecar
from django.http import HttpRequest, HttpResponse
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

BUNDLE = (
    Path(drf_spectacular_sidecar.__file__).parent
    / "static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
)
OUTSIDE_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@lru_cache(maxsize=1)
def _bundle() -> bytes:
    text = BUNDLE.read_text(encoding="utf-8")
    return text.replace(OUTSIDE_LOGO, static("meter_readings/redoc-logo.svg")).encode("utf-8")


@require_GET
@cache_control(public=True, max_age=86400)
def redoc_bundle(request: HttpRequest) -> HttpResponse:
    """The ReDoc bundle, asking nothing of any other site."""
    return HttpResponse(_bundle(), content_type="text/javascript; charset=utf-8")
