"""URL configuration: the admin is the operator's console."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from config.health import health

# admin.site is the console's own site (meter_readings.admin.site).
urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("health/", health, name="health"),
    path("admin/", admin.site.urls),
    path("api/", include("meter_readings.api.urls")),
]
