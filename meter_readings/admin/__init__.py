"""The operator's console: read-only model admins plus import, dashboard and history pages."""

from meter_readings.admin import model_admins  # noqa: F401  (registers the model admins)
from meter_readings.admin import exceptions  # noqa: F401  (the exceptions queue)
