from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class MeterReadingsConfig(AppConfig):
    name = "meter_readings"
    verbose_name = "Meter readings (D0010)"
    default_auto_field = "django.db.models.BigAutoField"
    default = True

    def ready(self) -> None:
        # Registers the Celery tasks in every process: services.queueing sends them by
        # name, without importing the module that defines them.
        from meter_readings import tasks  # noqa: F401

        _check_validation_settings()


def _check_validation_settings() -> None:
    """A mistyped threshold stops every process at start-up, not the first import."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    from meter_readings.validation import Thresholds

    try:
        Thresholds.from_settings(settings.D0010_VALIDATION)
    except (ValueError, TypeError, ArithmeticError) as error:
        raise ImproperlyConfigured(f"D0010_VALIDATION: {error}") from error


class ConsoleAdminConfig(admin_apps.AdminConfig):
    """Django's admin with the console's own site as the default (``admin.site``)."""

    default = False
    default_site = "meter_readings.admin_site.MeterReadingsAdminSite"
