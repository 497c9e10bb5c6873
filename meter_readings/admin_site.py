"""The operator's console as one admin site: its names and the dashboard as its index.

Installed as Django's default site (``config.settings`` lists
``meter_readings.apps.ConsoleAdminConfig`` instead of ``django.contrib.admin``), so
``admin.site`` and ``@admin.register`` are this. Outside ``meter_readings.admin``, whose
import registers the model admins on the default site: defined there, the lazy default
site would be built twice and the first one's registrations lost.
"""

from django.contrib import admin


class MeterReadingsAdminSite(admin.AdminSite):
    site_header = "D0010 meter readings"
    site_title = "D0010 meter readings"
    index_title = "Flow files, meter points and readings"
    # The index shows the dashboard above the usual list of models.
    index_template = "admin/meter_readings/index.html"
