import io
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from meter_readings.models import FlowFile, Meter, MeterPoint, Reading
from meter_readings.services import import_flow_file
from meter_readings.tests.d0010_files import MPAN_A, MPAN_B, d0010_bytes, reading_line

pytestmark = pytest.mark.django_db

GROUPS = [
    f"026|{MPAN_A}|V|",
    "028|F75A 00802|D|",
    reading_line("S", value="56311.0"),
    f"026|{MPAN_B}|V|",
    "028|S95105287|C|",
    reading_line("TO", value="-1"),
    reading_line("TO", value="81641.0"),
]


@pytest.fixture
def imported():
    import_flow_file(
        stream=io.BytesIO(d0010_bytes(GROUPS, file_id="0000475656")),
        filename="DTC5259515123502080915D0010.uff",
        received_at=datetime(2026, 3, 2, tzinfo=UTC),
    )
    return FlowFile.objects.get()


@pytest.fixture
def staff_client(client):
    user = User.objects.create_user("operator", password="not-a-real-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    client.force_login(user)
    return client


def reading_list(client, **params):
    return client.get(reverse("admin:meter_readings_reading_changelist"), params)


class TestReadingSearch:
    def test_an_mpan_search_finds_its_readings_through_the_index(self, staff_client, imported):
        with CaptureQueriesContext(connection) as queries:
            response = reading_list(staff_client, q=MPAN_A)

        assert response.status_code == 200
        assert list(response.context["cl"].result_list.values_list("value", flat=True)) == [56311]
        sql = [query["sql"] for query in queries]
        assert any(f"\"mpan_core\" = '{MPAN_A}'" in statement for statement in sql)
        assert not any("LIKE" in statement.upper() for statement in sql)
        if connection.vendor == "sqlite":
            plan = response.context["cl"].queryset.explain()
            assert "SEARCH meter_readings_reading USING INDEX" in plan
            assert "meter_id=?" in plan

    def test_a_serial_with_a_space_is_searched_whole(self, staff_client, imported):
        response = reading_list(staff_client, q="F75A 00802")

        rows = response.context["cl"].result_list
        assert [reading.meter.serial_number for reading in rows] == ["F75A 00802"]

    def test_a_filename_search_finds_the_files_readings(self, staff_client, imported):
        response = reading_list(staff_client, q="DTC5259515123502080915D0010.uff")

        assert response.context["cl"].result_list.count() == 2

    def test_a_search_that_matches_nothing_says_so(self, staff_client, imported):
        response = reading_list(staff_client, q="NOPE")

        assert response.context["cl"].result_list.count() == 0

    def test_the_list_shows_the_source_filename_as_a_link_to_its_file(self, staff_client, imported):
        response = reading_list(staff_client)

        file_url = reverse("admin:meter_readings_flowfile_change", args=[imported.pk])
        assert f'<a href="{file_url}">DTC5259515123502080915D0010.uff</a>' in response.text

    def test_filters_narrow_the_list(self, staff_client, imported):
        by_type = reading_list(staff_client, reading_type__exact="C")
        by_register = reading_list(staff_client, register="S")
        by_file = reading_list(staff_client, flow_file__id__exact=imported.pk)
        by_month = reading_list(staff_client, read_month="2026-02")
        other_month = reading_list(staff_client, read_month="2026-03")
        nonsense_month = reading_list(staff_client, read_month="soon")

        assert [r.meter.serial_number for r in by_type.context["cl"].result_list] == ["S95105287"]
        assert [r.register_id for r in by_register.context["cl"].result_list] == ["S"]
        assert by_file.context["cl"].result_list.count() == 2
        assert "DTC5259515123502080915D0010.uff" in by_file.text
        assert by_month.context["cl"].result_list.count() == 2
        assert other_month.context["cl"].result_list.count() == 0
        assert nonsense_month.context["cl"].result_list.count() == 0

    def test_the_month_filter_offers_the_months_that_hold_readings(self, staff_client, imported):
        response = reading_list(staff_client)

        assert "?read_month=2026-02" in response.text
        assert "?read_month=2026-03" not in response.text

    def test_counts_stop_at_the_cap(self, staff_client, imported, monkeypatch):
        from meter_readings.admin import model_admins as console

        monkeypatch.setattr(console, "COUNT_CAP", 1)

        response = reading_list(staff_client)

        assert response.context["cl"].paginator.count == 1


class TestReadingPage:
    def test_it_shows_every_item_and_links_to_its_file(self, staff_client, imported):
        reading = Reading.objects.get(register_id="S")

        response = staff_client.get(
            reverse("admin:meter_readings_reading_change", args=[reading.pk])
        )

        assert response.status_code == 200
        file_url = reverse("admin:meter_readings_flowfile_change", args=[imported.pk])
        assert f'href="{file_url}"' in response.text
        assert "DTC5259515123502080915D0010.uff" in response.text
        assert MPAN_A in response.text and "F75A 00802" in response.text
        assert "Deemed (settlement) or estimated" in response.text


class TestFlowFilePage:
    def test_it_shows_status_sender_counts_and_findings(self, staff_client, imported):
        response = staff_client.get(
            reverse("admin:meter_readings_flowfile_change", args=[imported.pk])
        )

        assert response.status_code == 200
        assert "Imported with errors" in response.text
        assert "NEGATIVE_READING" in response.text
        assert "0000475656" in response.text
        readings_url = reverse("admin:meter_readings_reading_changelist")
        assert f"{readings_url}?flow_file__id__exact={imported.pk}" in response.text

    def test_files_under_one_identifier_link_to_each_other(self, staff_client, imported):
        data = d0010_bytes(
            GROUPS + [reading_line("S", when="20260322000000")], file_id="0000475656"
        )
        report = import_flow_file(
            stream=io.BytesIO(data),
            filename="resend.uff",
            received_at=datetime(2026, 3, 3, tzinfo=UTC),
        )
        pages = {
            flow_file_id: staff_client.get(
                reverse("admin:meter_readings_flowfile_change", args=[flow_file_id])
            ).text
            for flow_file_id in (imported.pk, report.flow_file_id)
        }

        original_url = reverse("admin:meter_readings_flowfile_change", args=[imported.pk])
        resend_url = reverse("admin:meter_readings_flowfile_change", args=[report.flow_file_id])
        assert f'href="{resend_url}"' in pages[imported.pk]
        assert f'href="{original_url}"' in pages[report.flow_file_id]
        assert "same sender and identifier" in pages[imported.pk].lower()
        assert "IDENTIFIER_REUSED" in pages[report.flow_file_id]

    def test_the_list_shows_files_by_status(self, staff_client, imported):
        response = staff_client.get(
            reverse("admin:meter_readings_flowfile_changelist"), {"status__exact": "IMPORTED"}
        )

        assert response.context["cl"].result_count == 0


class TestMeterPages:
    def test_a_meter_point_lists_its_meters(self, staff_client, imported):
        meter_point = MeterPoint.objects.get(mpan_core=MPAN_A)

        response = staff_client.get(
            reverse("admin:meter_readings_meterpoint_change", args=[meter_point.pk])
        )

        assert "F75A 00802" in response.text and "LOND" in response.text

    def test_meter_points_and_meters_search_exactly(self, staff_client, imported):
        points = staff_client.get(
            reverse("admin:meter_readings_meterpoint_changelist"), {"q": MPAN_B}
        )
        meters = staff_client.get(
            reverse("admin:meter_readings_meter_changelist"), {"q": "S95105287"}
        )

        assert [p.mpan_core for p in points.context["cl"].result_list] == [MPAN_B]
        assert [m.serial_number for m in meters.context["cl"].result_list] == ["S95105287"]
        assert Meter.objects.count() == 2

    def test_the_other_lists_open(self, staff_client, imported):
        for name in ("importfinding", "sitevisit", "meter", "meterpoint", "flowfile"):
            response = staff_client.get(reverse(f"admin:meter_readings_{name}_changelist"))
            assert response.status_code == 200, name


class TestReadOnly:
    def test_nobody_adds_changes_or_deletes_imported_data(self, admin_client, imported):
        reading = Reading.objects.first()

        add = admin_client.get(reverse("admin:meter_readings_reading_add"))
        delete = admin_client.post(
            reverse("admin:meter_readings_reading_delete", args=[reading.pk]), {"post": "yes"}
        )

        assert add.status_code == 403
        assert delete.status_code == 403
        assert Reading.objects.filter(pk=reading.pk).exists()

    def test_a_user_without_view_permission_sees_nothing(self, client, imported):
        user = User.objects.create_user("visitor", password="not-a-real-password", is_staff=True)
        client.force_login(user)

        response = reading_list(client)

        assert response.status_code == 403

    def test_anonymous_users_are_sent_to_log_in(self, client, imported):
        response = reading_list(client)

        assert response.status_code == 302 and "/admin/login/" in response["Location"]


class TestLoggingIn:
    def test_an_operator_logs_in_through_the_form_and_searches(self, client, imported):
        user = User.objects.create_user("ops", password="a-long-test-password", is_staff=True)
        user.user_permissions.set(Permission.objects.filter(codename="view_reading"))

        login = client.post(
            reverse("admin:login"),
            {"username": "ops", "password": "a-long-test-password", "next": "/admin/"},
        )
        response = reading_list(client, q="S95105287")

        assert login.status_code == 302 and login["Location"] == "/admin/"
        assert response.status_code == 200
        assert "DTC5259515123502080915D0010.uff" in response.text

    def test_the_login_form_locks_a_username_out_after_repeated_failures(self, client, settings):
        from axes.utils import reset

        reset()
        User.objects.create_user("ops", password="a-long-test-password", is_staff=True)
        failures = [
            client.post(reverse("admin:login"), {"username": "ops", "password": "wrong"})
            for _ in range(settings.AXES_FAILURE_LIMIT)
        ]

        right = client.post(
            reverse("admin:login"), {"username": "ops", "password": "a-long-test-password"}
        )

        assert [failure.status_code for failure in failures[:-1]] == [200] * (
            settings.AXES_FAILURE_LIMIT - 1
        )
        assert right.status_code == 429
        assert b"too many login attempts" in right.content.lower()
        assert "_auth_user_id" not in client.session
        reset()


class TestTheConsoleSite:
    def test_the_default_admin_site_is_the_consoles_with_its_names_and_dashboard(
        self, staff_client
    ):
        from django.contrib import admin

        from meter_readings.admin_site import MeterReadingsAdminSite

        response = staff_client.get(reverse("admin:index"))

        assert isinstance(admin.site._wrapped, MeterReadingsAdminSite)
        assert "<title>Flow files, meter points and readings | D0010 meter readings" in (
            response.text
        )
        assert 'id="dashboard"' in response.text
