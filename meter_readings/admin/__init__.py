"""The operator's console: read-only model admins plus import, dashboard and history pages."""

from meter_readings.admin import model_admins  # noqa: F401  (registers the model admins)

from django.contrib import admin as _django_admin  # noqa: E402

# The index shows the dashboard above the usual list of models.
_django_admin.site.index_template = "admin/meter_readings/index.html"
