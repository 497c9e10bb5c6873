"""The console's extra pages through the admin client: import, dashboard, history, test data."""

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from meter_readings.models import FlowFile, FlowFileStatus, MeterPoint, Reading
from meter_readings.selectors import meter_point_history
from meter_readings.services import import_flow_file
from meter_readings.tests.d0010_files import MPAN_A, d0010_bytes, reading_line, simple_groups

pytestmark = pytest.mark.django_db

IMPORT_URL = "/admin/meter_readings/flowfile/import/"


def staff(*codenames: str) -> User:
    user = User.objects.create_user(
        f"staff{User.objects.count()}", password="x-long-pass-1", is_staff=True
    )
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def post_files(client, *files: tuple[str, bytes], **options):
    data = {"files": [SimpleUploadedFile(name, content) for name, content in files]}
    data.update({key: "on" for key, value in options.items() if value})
    return client.post(IMPORT_URL, data)


class TestImportPage:
    def test_several_files_are_imported_and_summarised(self, admin_client):
        response = post_files(
            admin_client,
            ("a.uff", d0010_bytes(simple_groups(), file_id="0000000001")),
            ("b.uff", d0010_bytes(simple_groups(value="x"), file_id="0000000002")),
        )

        assert response.status_code == 200
        results = response.context["results"]
        assert [r["report"]["status"] for r in results] == ["imported", "imported_with_errors"]
        assert "Register Reading &#x27;x&#x27; is not a number" in response.text
        assert FlowFile.objects.count() == 2

    def test_dry_run_and_strict_reach_the_service(self, admin_client):
        dry = post_files(admin_client, ("a.uff", d0010_bytes(simple_groups())), dry_run=True)
        strict = post_files(
            admin_client, ("b.uff", d0010_bytes(simple_groups(value="x"))), strict=True
        )

        assert dry.context["results"][0]["report"]["dry_run"] is True
        assert strict.context["results"][0]["report"]["status"] == "rejected"
        assert Reading.objects.count() == 0

    def test_background_queues_the_file(
        self, admin_client, settings, tmp_path, django_capture_on_commit_callbacks
    ):
        settings.MEDIA_ROOT = tmp_path

        with django_capture_on_commit_callbacks(execute=True):
            response = post_files(
                admin_client, ("a.uff", d0010_bytes(simple_groups())), background=True
            )

        queued = response.context["results"][0]["queued"]
        assert queued.status == FlowFileStatus.QUEUED
        assert "Follow its progress" in response.text
        queued.refresh_from_db()
        assert queued.status == FlowFileStatus.IMPORTED  # no broker: ran in-process

    def test_a_file_over_the_limit_is_refused_with_its_name(self, admin_client, settings):
        settings.D0010_MAX_UPLOAD_BYTES = 10

        response = post_files(admin_client, ("big.uff", d0010_bytes(simple_groups())))

        assert "Larger than the upload limit of 10 bytes: big.uff." in response.text
        assert FlowFile.objects.count() == 0

    def test_a_body_declared_too_large_is_refused_unread(self, admin_client, settings):
        settings.D0010_MAX_UPLOAD_BYTES = 10

        response = admin_client.post(IMPORT_URL, {}, CONTENT_LENGTH=str(10**9))

        assert "larger than" in response.text and FlowFile.objects.count() == 0

    def test_a_dry_run_cannot_be_queued(self, admin_client):
        response = post_files(
            admin_client, ("a.uff", d0010_bytes(simple_groups())), dry_run=True, background=True
        )

        assert "A dry run is answered at once" in response.text

    def test_it_needs_the_add_permission(self, client):
        client.force_login(staff("view_flowfile"))

        assert client.get(IMPORT_URL).status_code == 403

    def test_the_flow_file_list_links_to_it(self, admin_client):
        response = admin_client.get("/admin/meter_readings/flowfile/")

        assert f'href="{IMPORT_URL}"' in response.text


@pytest.fixture
def corrected():
    groups = [f"026|{MPAN_A}|V|", "028|M1|C|"]
    groups += [reading_line("S", when="20260101000000", value="100.0")]
    groups += [reading_line("S", when="20260201000000", value="150.0", flag="F")]
    import_flow_file(
        stream=io.BytesIO(d0010_bytes(groups, file_id="0000000001")),
        filename="first.uff",
        received_at=datetime(2026, 2, 2, tzinfo=UTC),
    )
    correction = [f"026|{MPAN_A}|V|", "028|M1|Q|", reading_line("S", "20260201000000", "140.0")]
    import_flow_file(
        stream=io.BytesIO(d0010_bytes(correction, file_id="0000000002")),
        filename="second.uff",
        received_at=datetime(2026, 2, 3, tzinfo=UTC),
    )
    return MeterPoint.objects.get(mpan_core=MPAN_A)


class TestMeterPointHistory:
    def test_consumption_is_between_consecutive_current_readings(self, corrected):
        [meter] = meter_point_history(meter_point=corrected)
        [register] = meter["registers"]

        rows = [
            (
                p["reading"].value,
                p["reading"].is_superseded,
                p["advance"].advance if p["advance"] is not None else "not counted",
            )
            for p in register["points"]
        ]
        assert rows == [
            (Decimal("100.000"), False, None),
            (Decimal("150.000"), True, "not counted"),
            (Decimal("140.000"), False, Decimal("40.000")),
        ]

    def test_the_page_marks_suspect_and_superseded_readings_and_links_files(
        self, admin_client, corrected
    ):
        response = admin_client.get(f"/admin/meter_readings/meterpoint/{corrected.pk}/history/")

        assert response.status_code == 200
        assert 'class="suspect superseded"' in response.text
        assert "second.uff" in response.text and "first.uff" in response.text
        # 40 over the 31 days from 1 January to 1 February.
        assert response.context["charts"][0]["points"][-1]["per_day"] == round(40 / 31, 3)

    def test_an_mpan_lookup_opens_it_or_says_why_not(self, admin_client, corrected):
        found = admin_client.get("/admin/meter_readings/meterpoint/lookup/", {"mpan": MPAN_A})
        missing = admin_client.get(
            "/admin/meter_readings/meterpoint/lookup/", {"mpan": "1"}, follow=True
        )

        assert found["Location"].endswith(f"/meterpoint/{corrected.pk}/history/")
        assert "No meter point with MPAN core" in missing.text

    def test_it_needs_the_view_permission(self, client, corrected):
        client.force_login(staff("view_meterpoint"))

        response = client.get(f"/admin/meter_readings/meterpoint/{corrected.pk}/history/")

        assert response.status_code == 403

    def test_the_lookup_tells_nothing_to_a_user_who_may_not_see_readings(self, client, corrected):
        client.force_login(staff("view_flowfile"))

        held = client.get("/admin/meter_readings/meterpoint/lookup/", {"mpan": MPAN_A})
        not_held = client.get("/admin/meter_readings/meterpoint/lookup/", {"mpan": "1"})

        assert (held.status_code, not_held.status_code) == (403, 403)
        assert held.content == not_held.content


class TestDashboard:
    def test_it_shows_totals_latest_files_findings_and_the_series(self, admin_client, corrected):
        response = admin_client.get(reverse("admin:index"))

        assert response.status_code == 200
        assert '<span class="figure" id="total-readings">3</span>' in response.text
        assert "second.uff" in response.text
        assert 'id="readings-per-day-data"' in response.text
        assert "2026-02-02" in response.text

    def test_users_without_flow_file_permission_see_no_dashboard(self, client, corrected):
        client.force_login(staff())

        assert 'id="dashboard"' not in client.get(reverse("admin:index")).text


class TestTestData:
    def test_it_is_refused_unless_enabled(self, admin_client):
        assert admin_client.get("/admin/meter_readings/flowfile/test-data/").status_code == 403

    def test_it_loads_the_samples_and_deletes_only_after_the_typed_confirmation(
        self, admin_client, settings
    ):
        settings.D0010_TEST_DATA_PAGE = True
        url = "/admin/meter_readings/flowfile/test-data/"

        admin_client.post(url, {"action": "load_samples"})
        loaded = Reading.objects.count()
        admin_client.post(url, {"action": "delete_everything", "confirmation": "yes"})
        kept = Reading.objects.count()
        admin_client.post(url, {"action": "delete_everything", "confirmation": "DELETE EVERYTHING"})

        assert loaded == 99 and kept == 99
        assert Reading.objects.count() == 0 and FlowFile.objects.count() == 0
        assert admin_client.get(url).status_code == 200
