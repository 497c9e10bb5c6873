from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)
from rest_framework.routers import DefaultRouter

from meter_readings.api.redoc_bundle import redoc_bundle
from meter_readings.api.views import (
    EXPORT_RENDERERS,
    FlowFileViewSet,
    MeterPointViewSet,
    MeterViewSet,
    ReadingExceptionViewSet,
    ReadingViewSet,
    StaleReadsView,
    TokenView,
)

router = DefaultRouter()
router.register("flow-files", FlowFileViewSet, basename="flow-file")
router.register("meter-points", MeterPointViewSet, basename="meter-point")
router.register("meters", MeterViewSet, basename="meter")
router.register("readings", ReadingViewSet, basename="reading")
router.register("exceptions", ReadingExceptionViewSet, basename="exception")


@csrf_exempt  # it changes nothing; a PATCH to a bad URL is a 404, not a CSRF page
def not_found(request: HttpRequest, path: str) -> JsonResponse:
    """API clients get JSON, not Django's HTML page, for a URL that matches nothing."""
    return JsonResponse({"detail": "Not found."}, status=404)


urlpatterns = [
    path(
        "readings/export.csv",
        ReadingViewSet.as_view({"get": "export"}, renderer_classes=EXPORT_RENDERERS),
        name="reading-export",
    ),
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("reports/stale-reads/", StaleReadsView.as_view(), name="stale-reads"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Both pages load their scripts as files, never inline, for the Content-Security-Policy.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc/bundle.js", redoc_bundle, name="redoc-bundle"),
    path(
        "redoc/",
        SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html"),
        name="redoc",
    ),
    path("", include(router.urls)),
    re_path(r"^(?P<path>.*)$", not_found),
]
