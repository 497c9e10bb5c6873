from django.apps import AppConfig


class MeterReadingsConfig(AppConfig):
    name = "meter_readings"
    verbose_name = "Meter readings (D0010)"
    default_auto_field = "django.db.models.BigAutoField"
