"""The exceptions queue, consumption and the reports, through the API and the admin."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib import admin as django_admin
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from meter_readings.models import ExceptionStatus, Meter, MeterPoint, ReadingException
from meter_readings.services import import_flow_file
from meter_readings.tests.d0010_files import MPAN_A, MPAN_B, MPAN_C, d0010_bytes, reading_line

pytestmark = pytest.mark.django_db

# A negative advance at MPAN_A (03) and a collector failure at MPAN_B (05), from two senders.
FIRST = [f"026|{MPAN_A}|V|", "028|M1|R|", reading_line("S", "20260101000000", "500.0")]
SECOND = [f"026|{MPAN_A}|V|", "028|M1|R|", reading_line("S", "20260201000000", "400.0")]
FAILED = [f"026|{MPAN_B}|V|", "028|B1|R|", reading_line("S", "20260101000000", "7.0", flag="F")]
FAILED += ["032|05|F|"]


def send(groups: list[str], file_id: str, sender: tuple[str, str] = ("D", "UDMS")) -> None:
    import_flow_file(
        stream=io.BytesIO(d0010_bytes(groups, file_id=file_id, sender=sender)),
        filename=f"{file_id}.uff",
        received_at=datetime(2026, 3, 2, tzinfo=UTC),
    )


@pytest.fixture
def raised() -> dict[str, ReadingException]:
    send(FIRST, "0000000001")
    send(SECOND, "0000000002")
    send(FAILED, "0000000003", sender=("D", "ABCD"))
    return {exception.rule: exception for exception in ReadingException.objects.all()}


def user_with(*codenames: str, staff: bool = False) -> User:
    user = User.objects.create_user(
        f"user{User.objects.count()}", password="x-long-password-1", is_staff=staff
    )
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def api_client(*codenames: str) -> APIClient:
    client = APIClient()
    token = Token.objects.create(user=user_with(*codenames))
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


VIEWER = ("view_readingexception", "view_meterpoint", "view_reading", "view_flowfile")
WORKER = (*VIEWER, "change_readingexception")


class TestExceptionsApi:
    def test_it_lists_the_queue_newest_first_with_a_cursor(self, raised):
        client = api_client(*VIEWER)

        first = client.get("/api/exceptions/", {"page_size": 1}).json()
        second = client.get(first["next"]).json()

        assert [first["results"][0]["rule"], second["results"][0]["rule"]] == [
            "COLLECTOR_FAILED",
            "NEGATIVE_ADVANCE",
        ]
        assert second["results"][0]["mpan_core"] == MPAN_A
        assert second["results"][0]["reason_code"] == "03"

    @pytest.mark.parametrize(
        "params, rules",
        [
            ({"rule": "NEGATIVE_ADVANCE"}, ["NEGATIVE_ADVANCE"]),
            ({"reason_code": "05"}, ["COLLECTOR_FAILED"]),
            ({"sender": "ABCD"}, ["COLLECTOR_FAILED"]),
            ({"sender": "D/UDMS"}, ["NEGATIVE_ADVANCE"]),
            ({"status": "open"}, ["COLLECTOR_FAILED", "NEGATIVE_ADVANCE"]),
            ({"status": "resolved"}, []),
            ({"age": "lt1w"}, ["COLLECTOR_FAILED", "NEGATIVE_ADVANCE"]),
            ({"age": "6mplus"}, []),
            ({"mpan": MPAN_B}, ["COLLECTOR_FAILED"]),
        ],
    )
    def test_each_filter_narrows_the_queue(self, raised, params, rules):
        response = api_client(*VIEWER).get("/api/exceptions/", params)

        assert [row["rule"] for row in response.json()["results"]] == rules

    def test_an_exception_raised_months_ago_is_in_its_age_band(self, raised):
        ReadingException.objects.filter(rule="COLLECTOR_FAILED").update(
            raised_at=timezone.now() - timedelta(days=100)
        )

        response = api_client(*VIEWER).get("/api/exceptions/", {"age": "3to6m"})

        assert [row["rule"] for row in response.json()["results"]] == ["COLLECTOR_FAILED"]

    def test_a_bad_filter_is_a_400_naming_it(self, raised):
        response = api_client(*VIEWER).get("/api/exceptions/", {"age": "old"})

        assert response.status_code == 400 and "age" in response.json()

    def test_resolving_needs_a_note_and_keeps_who_when_and_why(self, raised):
        client = api_client(*WORKER)
        exception = raised["NEGATIVE_ADVANCE"]
        url = f"/api/exceptions/{exception.pk}/"

        refused = client.patch(url, {"status": "resolved"}, format="json")
        resolved = client.patch(
            url, {"status": "resolved", "note": "meter replaced, see job 42"}, format="json"
        )

        assert refused.status_code == 400 and "note" in refused.json()
        assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
        history = client.get(f"{url}history/").json()
        assert [entry["status"] for entry in history] == ["open", "resolved"]
        assert history[0]["user"] is None and history[0]["change"] == "raised by the checks"
        assert history[1]["user"].startswith("user")
        assert history[1]["note"] == "meter replaced, see job 42"

    def test_a_change_the_state_does_not_allow_is_a_400(self, raised):
        client = api_client(*WORKER)
        url = f"/api/exceptions/{raised['NEGATIVE_ADVANCE'].pk}/"
        client.patch(url, {"status": "acknowledged"}, format="json")

        again = client.patch(url, {"status": "acknowledged"}, format="json")

        assert again.status_code == 400 and "status" in again.json()

    def test_viewing_is_not_enough_to_change(self, raised):
        exception = raised["NEGATIVE_ADVANCE"]

        response = api_client(*VIEWER).patch(
            f"/api/exceptions/{exception.pk}/", {"status": "acknowledged"}, format="json"
        )

        assert response.status_code == 403
        exception.refresh_from_db()
        assert exception.status == ExceptionStatus.OPEN

    def test_without_the_view_permission_the_queue_is_forbidden(self, raised):
        assert api_client("view_reading").get("/api/exceptions/").status_code == 403

    def test_imported_fields_cannot_be_changed(self, raised):
        exception = raised["NEGATIVE_ADVANCE"]

        response = api_client(*WORKER).patch(
            f"/api/exceptions/{exception.pk}/",
            {"status": "acknowledged", "rule": "ZERO_ADVANCE", "detail": "x"},
            format="json",
        )

        exception.refresh_from_db()
        assert response.status_code == 200
        assert (exception.rule, exception.status) == ("NEGATIVE_ADVANCE", "ACKNOWLEDGED")
        assert exception.detail != "x"


class TestConsumptionApi:
    def test_it_gives_each_register_s_advances(self, raised):
        meter_point = MeterPoint.objects.get(mpan_core=MPAN_A)

        response = api_client(*VIEWER).get(f"/api/meter-points/{meter_point.pk}/consumption/")

        [register] = response.json()
        assert register["serial_number"] == "M1" and register["register_id"] == "S"
        assert [row["advance"] for row in register["advances"]] == [None, "-100.000"]
        assert register["advances"][1]["days"] == 31.0

    def test_it_needs_the_readings_view_permission(self, raised):
        meter_point = MeterPoint.objects.get(mpan_core=MPAN_A)

        response = api_client("view_meterpoint").get(
            f"/api/meter-points/{meter_point.pk}/consumption/"
        )

        assert response.status_code == 403


class TestStaleReadsApi:
    def test_it_lists_meter_points_not_read_in_the_months_asked(self, raised):
        client = api_client(*VIEWER)

        recent = client.get("/api/reports/stale-reads/", {"months": 240}).json()
        stale = client.get("/api/reports/stale-reads/", {"months": 1}).json()
        never = client.get("/api/reports/stale-reads/", {"never_read": "true"}).json()

        assert recent["results"] == []
        assert [row["mpan_core"] for row in stale["results"]] == [MPAN_A]
        # MPAN_B's only reading failed: never validly read.
        assert [row["mpan_core"] for row in never["results"]] == [MPAN_B]
        assert stale["never_read"] == 1 and stale["months"] == 1
        assert [bucket["label"] for bucket in stale["buckets"]] == [
            "6-12 months",
            "12-14 months",
            "14 months or more",
        ]

    def test_pages_follow_without_a_total(self, raised):
        send([f"026|{MPAN_C}|V|", "028|C1|R|", reading_line("S", "20251201000000", "1.0")], "4")
        client = api_client(*VIEWER)

        first = client.get("/api/reports/stale-reads/", {"months": 1, "page_size": 1}).json()
        second = client.get(first["next"]).json()

        assert [first["results"][0]["mpan_core"], second["results"][0]["mpan_core"]] == [
            MPAN_C,
            MPAN_A,
        ]
        assert second["next"] is None and second["previous"] is not None
        assert client.get("/api/reports/stale-reads/", {"page": "x"}).status_code == 404

    def test_a_bad_months_is_a_400(self, raised):
        response = api_client(*VIEWER).get("/api/reports/stale-reads/", {"months": "0"})

        assert response.status_code == 400 and "months" in response.json()


@pytest.fixture
def worker_client(client):
    client.force_login(user_with(*WORKER, staff=True))
    return client


class TestExceptionsAdmin:
    def test_the_queue_opens_on_unresolved_exceptions(self, worker_client, raised):
        ReadingException.objects.filter(rule="COLLECTOR_FAILED").update(status="RESOLVED")

        response = worker_client.get(reverse("admin:meter_readings_readingexception_changelist"))

        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [raised["NEGATIVE_ADVANCE"]]

    def test_the_sender_filter_offers_the_files_senders_and_narrows_to_one(
        self, worker_client, raised
    ):
        url = reverse("admin:meter_readings_readingexception_changelist")

        every = worker_client.get(url)
        one = worker_client.get(url, {"sender": "D/ABCD"})

        sender_filter = next(f for f in every.context["cl"].filter_specs if f.title == "sender")
        assert [value for value, _ in sender_filter.lookup_choices] == ["D/ABCD", "D/UDMS"]
        assert list(one.context["cl"].result_list) == [raised["COLLECTOR_FAILED"]]

    def test_each_row_has_djangos_action_checkbox(self, worker_client, raised):
        # The queue writes the checkbox out (for speed); the admin's JavaScript and the
        # actions read it as Django's widget renders it.
        response = worker_client.get(
            reverse("admin:meter_readings_readingexception_changelist"), {"status": "all"}
        )

        for exception in raised.values():
            widget = django_admin.ModelAdmin.action_checkbox(
                django_admin.site._registry[ReadingException], exception
            )
            assert widget in response.text

    def test_bulk_acknowledge_then_resolve_with_a_note(self, worker_client, raised):
        url = reverse("admin:meter_readings_readingexception_changelist")
        pks = [str(exception.pk) for exception in raised.values()]

        worker_client.post(url, {"action": "acknowledge", "_selected_action": pks})
        asked = worker_client.post(url, {"action": "resolve", "_selected_action": pks})
        done = worker_client.post(
            url,
            {"action": "resolve", "_selected_action": pks, "apply": "1", "note": "checked"},
        )

        assert "Resolve 2 exceptions" in asked.text
        assert done.status_code == 302
        assert set(ReadingException.objects.values_list("status", flat=True)) == {"RESOLVED"}
        exception = raised["NEGATIVE_ADVANCE"]
        assert [entry.status for entry in exception.history.order_by("pk")] == [
            "OPEN",
            "ACKNOWLEDGED",
            "RESOLVED",
        ]

    def test_a_viewer_can_see_but_not_work_the_queue(self, client, raised):
        client.force_login(user_with(*VIEWER, staff=True))
        url = reverse("admin:meter_readings_readingexception_changelist")
        pks = [str(exception.pk) for exception in raised.values()]

        listed = client.get(url)
        client.post(url, {"action": "acknowledge", "_selected_action": pks})

        assert listed.status_code == 200 and listed.context["action_form"] is None
        assert set(ReadingException.objects.values_list("status", flat=True)) == {"OPEN"}

    def test_the_dashboard_shows_both_reports_with_csv(self, worker_client, raised):
        response = worker_client.get(reverse("admin:index"))

        assert 'id="open-exceptions"' in response.text and 'id="stale-reads"' in response.text
        report = worker_client.get(reverse("admin:meter_readings_readingexception_report_csv"))
        rows = list(csv.reader(io.StringIO(b"".join(report.streaming_content).decode())))
        assert rows[0][:3] == ["rule", "description", "under 1 week"]
        assert {row[0]: row[-1] for row in rows[1:]} == {
            "COLLECTOR_FAILED": "1",
            "NEGATIVE_ADVANCE": "1",
        }

    def test_the_meter_point_page_marks_the_exception_and_offers_consumption_csv(
        self, worker_client, raised
    ):
        exception = raised["NEGATIVE_ADVANCE"]
        page = reverse("admin:meter_readings_meterpoint_history", args=[exception.meter_point_id])

        response = worker_client.get(page)
        download = worker_client.get(
            reverse(
                "admin:meter_readings_meterpoint_consumption_csv",
                args=[exception.meter_point_id],
            )
        )

        assert f'id="exception-{exception.pk}"' in response.text
        assert response.context["charts"][0]["points"][-1]["exceptions"] == ["Negative advance"]
        rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
        assert [row["advance"] for row in rows] == ["", "-100.000"]


class TestMeterRegisterDigits:
    def test_recording_them_in_the_admin_re_checks_the_meter(self, client, raised):
        client.force_login(user_with("view_meter", "change_meter", staff=True))
        send(
            [f"026|{MPAN_C}|V|", "028|C9|R|", reading_line("S", "20260101000000", "123456.0")], "5"
        )
        meter = Meter.objects.get(serial_number="C9")

        response = client.post(
            reverse("admin:meter_readings_meter_change", args=[meter.pk]),
            {"register_digits": "5"},
            follow=True,
        )

        assert "Re-checked 1 register(s): 1 exception(s) raised" in response.text
        assert ReadingException.objects.filter(meter=meter, rule="REGISTER_DIGITS").exists()
        meter.refresh_from_db()
        assert meter.register_digits == 5

    def test_a_meter_s_serial_cannot_be_changed(self, client, raised):
        client.force_login(user_with("view_meter", "change_meter", staff=True))
        meter = Meter.objects.get(serial_number="M1")

        client.post(
            reverse("admin:meter_readings_meter_change", args=[meter.pk]),
            {"register_digits": "6", "serial_number": "CHANGED"},
        )

        meter.refresh_from_db()
        assert (meter.serial_number, meter.register_digits) == ("M1", 6)


class TestReportCounts:
    def test_they_are_kept_for_a_while_and_counted_afresh_on_request(self, raised):
        from meter_readings import selectors

        now = timezone.now()
        before = selectors.open_exceptions_by_rule_and_age(now=now)
        ReadingException.objects.filter(rule="NEGATIVE_ADVANCE").update(status="RESOLVED")

        kept = selectors.open_exceptions_by_rule_and_age(now=now)
        fresh = selectors.open_exceptions_by_rule_and_age(now=now, fresh=True)

        assert kept == before
        assert [row["rule"] for row in fresh] == ["COLLECTOR_FAILED"]

    def test_an_import_or_a_change_to_an_exception_drops_them(
        self, raised, django_capture_on_commit_callbacks
    ):
        from meter_readings import selectors

        now = timezone.now()
        selectors.open_exceptions_by_rule_and_age(now=now)

        with django_capture_on_commit_callbacks(execute=True):
            response = api_client(*WORKER).patch(
                f"/api/exceptions/{raised['NEGATIVE_ADVANCE'].pk}/",
                {"status": "resolved", "note": "read again"},
                format="json",
            )
        after_change = selectors.open_exceptions_by_rule_and_age(now=now)
        with django_capture_on_commit_callbacks(execute=True):
            send(SECOND[:2] + [reading_line("S", "20260215000000", "300.0")], "0000000009")
        after_import = selectors.open_exceptions_by_rule_and_age(now=timezone.now())

        assert response.status_code == 200
        assert [row["rule"] for row in after_change] == ["COLLECTOR_FAILED"]
        assert [row["rule"] for row in after_import] == ["COLLECTOR_FAILED", "NEGATIVE_ADVANCE"]
