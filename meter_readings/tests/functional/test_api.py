import csv
import io
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from meter_readings.models import FlowFile, FlowFileStatus, Reading
from meter_readings.services import import_flow_file
from meter_readings.tests.d0010_files import (
    MPAN_A,
    MPAN_B,
    d0010_bytes,
    reading_line,
    simple_groups,
)

pytestmark = pytest.mark.django_db

GROUPS = [
    f"026|{MPAN_A}|V|",
    "028|F75A 00802|D|",
    reading_line("S", when="20260222000000", value="56311.0"),
    reading_line("S", when="20260722000000", value="56999.5"),
    f"026|{MPAN_B}|F|",
    "028|S95105287|C|",
    reading_line("TO", value="-1"),
    reading_line("TO", value="81641.0", flag="F"),
    "032|05|F|",
]


def user_with(*codenames: str) -> User:
    user = User.objects.create_user(f"user{User.objects.count()}", password="x-long-password-1")
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


VIEW_ALL = ("view_flowfile", "view_reading", "view_meter", "view_meterpoint")


@pytest.fixture
def imported() -> FlowFile:
    import_flow_file(
        stream=io.BytesIO(d0010_bytes(GROUPS, file_id="0000475656")),
        filename="DTC5259515123502080915D0010.uff",
        received_at=datetime(2026, 3, 2, tzinfo=UTC),
    )
    return FlowFile.objects.get()


@pytest.fixture
def reader() -> APIClient:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user_with(*VIEW_ALL))}"
    )
    return client


@pytest.fixture
def uploader() -> APIClient:
    client = APIClient()
    client.force_authenticate(user_with(*VIEW_ALL, "add_flowfile"))
    return client


@pytest.fixture
def fresh_limits():
    """Rate counts (the cache) and login failures (axes) start from nothing."""
    from axes.utils import reset
    from django.core.cache import cache

    cache.clear()
    reset()
    yield
    cache.clear()
    reset()


def upload(client: APIClient, data: bytes, name: str = "flow.uff", query: str = ""):
    return client.post(
        f"/api/flow-files/{query}",
        {"file": SimpleUploadedFile(name, data)},
        format="multipart",
    )


class TestAuthentication:
    def test_anonymous_requests_are_refused(self, imported):
        for url in ("/api/readings/", "/api/flow-files/", "/api/meters/", "/api/meter-points/"):
            assert APIClient().get(url).status_code == 401, url

    def test_a_token_is_issued_for_a_username_and_password(self):
        user_with(*VIEW_ALL)
        user = User.objects.get()

        response = APIClient().post(
            "/api/auth/token/", {"username": user.username, "password": "x-long-password-1"}
        )

        assert response.status_code == 200
        assert response.json()["token"] == Token.objects.get(user=user).key

    def test_token_requests_are_rate_limited(self, fresh_limits):
        user = user_with(*VIEW_ALL)
        client = APIClient()

        statuses = [
            client.post(
                "/api/auth/token/", {"username": user.username, "password": f"wrong-{n}"}
            ).status_code
            for n in range(12)
        ]

        assert statuses[:4] == [400] * 4 and statuses[-1] == 429
        assert 429 in statuses[:11]

    def test_a_username_is_locked_out_after_repeated_wrong_passwords(self, fresh_limits, settings):
        # Five failures and one more try stay within the rate limit (10 a minute).
        user = user_with(*VIEW_ALL)
        client = APIClient()
        for attempt in range(settings.AXES_FAILURE_LIMIT):
            wrong = client.post("/api/auth/token/", {"username": user.username, "password": "no"})
            assert wrong.status_code == 400, attempt

        right = client.post(
            "/api/auth/token/", {"username": user.username, "password": "x-long-password-1"}
        )

        assert right.status_code == 429
        assert "Too many failed logins" in right.json()["detail"]
        assert not Token.objects.exists()

    def test_a_username_with_a_nul_byte_is_a_400_not_a_failure(self, fresh_limits):
        response = APIClient().post(
            "/api/auth/token/", {"username": "ops\x00", "password": "whatever"}
        )

        assert response.status_code == 400
        assert "username" in response.json()

    def test_reading_needs_the_view_permission(self, imported):
        client = APIClient()
        client.force_authenticate(user_with("view_flowfile"))

        assert client.get("/api/readings/").status_code == 403
        assert client.get("/api/flow-files/").status_code == 200

    def test_uploading_needs_the_add_permission(self, reader):
        response = upload(reader, d0010_bytes(simple_groups()))

        assert response.status_code == 403
        assert FlowFile.objects.count() == 0

    @override_settings(CORS_ALLOWED_ORIGINS=[])
    def test_cross_origin_requests_get_no_cors_headers(self, reader):
        response = reader.get("/api/readings/", HTTP_ORIGIN="https://evil.example")

        assert "access-control-allow-origin" not in response.headers


class TestReadings:
    def test_a_reading_carries_its_items_and_source(self, reader, imported):
        reading = Reading.objects.get(register_id="TO")

        body = reader.get(f"/api/readings/{reading.pk}/").json()

        assert body == {
            "id": reading.pk,
            "mpan_core": MPAN_B,
            "meter_serial": "S95105287",
            "register_id": "TO",
            "read_at": "2026-02-22T00:00:00Z",
            "value": "81641.000",
            "reading_type": "C",
            "bsc_validation_status": "F",
            "reading_flag": False,
            "reading_method": "N",
            "md_reset_at": None,
            "md_reset_count": None,
            "validation_reason_code": "05",
            "validation_status": False,
            "superseded": False,
            "supersedes": None,
            "flow_file": {"id": imported.pk, "filename": "DTC5259515123502080915D0010.uff"},
            "line_number": 9,
        }

    def test_summer_times_carry_their_offset(self, reader, imported):
        body = reader.get("/api/readings/", {"read_after": "2026-07-01T00:00:00Z"}).json()

        assert [row["read_at"] for row in body["results"]] == ["2026-07-22T00:00:00+01:00"]

    @pytest.mark.parametrize(
        "params, expected",
        [
            ({"mpan": MPAN_A}, ["56999.500", "56311.000"]),
            ({"serial": "S95105287"}, ["81641.000"]),
            (
                {"filename": "DTC5259515123502080915D0010.uff"},
                ["56999.500", "56311.000", "81641.000"],
            ),
            ({"register": "TO"}, ["81641.000"]),
            ({"reading_type": "D"}, ["56999.500", "56311.000"]),
            ({"bsc_validation_status": "F"}, ["81641.000"]),
            ({"read_before": "2026-03-01T00:00:00Z"}, ["56311.000", "81641.000"]),
            ({"superseded": "true"}, []),
            ({"mpan": MPAN_A, "ordering": "read_at"}, ["56311.000", "56999.500"]),
        ],
    )
    def test_filters_narrow_the_list(self, reader, imported, params, expected):
        body = reader.get("/api/readings/", params).json()

        assert sorted(row["value"] for row in body["results"]) == sorted(expected)
        if "ordering" in params:
            assert [row["value"] for row in body["results"]] == expected

    def test_any_iso_offset_is_compared_in_utc(self, reader, imported):
        # PostgreSQL refuses offsets beyond 15:59 that Python accepts (found by
        # schemathesis).
        body = reader.get("/api/readings/", {"read_after": "2026-07-20T08:00:00-16:57"}).json()
        files = reader.get("/api/flow-files/", {"received_before": "4099-09-26T08:13:22-16:57"})

        assert [row["value"] for row in body["results"]] == ["56999.500"]
        assert files.status_code == 200 and files.json()["count"] == 1

    def test_the_flow_file_filter_takes_an_id(self, reader, imported):
        body = reader.get("/api/readings/", {"flow_file": imported.pk}).json()

        assert len(body["results"]) == 3

    @pytest.mark.parametrize(
        "params, parameter",
        [
            ({"mpan": "12345"}, "mpan"),
            ({"read_after": "yesterday"}, "read_after"),
            ({"reading_type": "B"}, "reading_type"),
            ({"superseded": "maybe"}, "superseded"),
            ({"flow_file": "x"}, "flow_file"),
        ],
    )
    def test_a_bad_filter_value_is_a_400_naming_the_parameter(
        self, reader, imported, params, parameter
    ):
        response = reader.get("/api/readings/", params)

        assert response.status_code == 400
        assert parameter in response.json()

    def test_readings_page_by_cursor(self, reader, imported):
        first = reader.get("/api/readings/", {"page_size": 2}).json()
        second = reader.get(first["next"]).json()

        assert len(first["results"]) == 2 and len(second["results"]) == 1
        assert {row["id"] for row in first["results"]}.isdisjoint(
            {row["id"] for row in second["results"]}
        )
        assert second["next"] is None

    def test_a_superseded_reading_points_to_its_replacement(self, reader, imported):
        import_flow_file(
            stream=io.BytesIO(
                d0010_bytes(simple_groups(value="56312.0", reading_type="D"), file_id="0000000002")
            ),
            filename="correction.uff",
            received_at=datetime(2026, 3, 3, tzinfo=UTC),
        )

        old = reader.get("/api/readings/", {"superseded": "true"}).json()["results"]
        new = Reading.objects.get(value="56312.0")

        assert [row["value"] for row in old] == ["56311.000"]
        assert new.supersedes_id == old[0]["id"]


class TestExport:
    def test_it_streams_the_filtered_readings_as_csv(self, reader, imported):
        response = reader.get("/api/readings/export.csv", {"mpan": MPAN_A})

        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert [(row["mpan_core"], row["value"], row["read_at"]) for row in rows] == [
            (MPAN_A, "56311.000", "2026-02-22T00:00:00+00:00"),
            (MPAN_A, "56999.500", "2026-07-22T00:00:00+01:00"),
        ]
        assert rows[0]["filename"] == "DTC5259515123502080915D0010.uff"
        assert rows[0]["reading_flag"] == "T"

    def test_a_bad_filter_is_a_400_not_a_broken_file(self, reader, imported):
        response = reader.get("/api/readings/export.csv", {"mpan": "nope"})

        assert response.status_code == 400
        assert "mpan" in response.json()

    def test_it_needs_the_view_permission(self, imported):
        assert APIClient().get("/api/readings/export.csv").status_code == 401


class TestFlowFiles:
    def test_a_flow_file_shows_its_envelope_and_counts(self, reader, imported):
        body = reader.get(f"/api/flow-files/{imported.pk}/").json()

        assert body["status"] == "imported_with_errors"
        assert (body["sender"], body["file_identifier"]) == ("D/UDMS", "0000475656")
        assert (body["reading_count"], body["readings_imported"], body["error_count"]) == (4, 3, 2)
        assert body["duplicate_of"] is None

    def test_its_findings_are_listed_in_line_order(self, reader, imported):
        body = reader.get(f"/api/flow-files/{imported.pk}/findings/").json()

        assert [(f["line"], f["severity"], f["code"]) for f in body["results"]] == [
            (8, "error", "NEGATIVE_READING"),
            (8, "error", "INVALID_VALUE"),
        ]

    @pytest.mark.parametrize(
        "params, count",
        [
            ({"status": "imported_with_errors"}, 1),
            ({"status": "imported"}, 0),
            ({"sender": "D/UDMS"}, 1),
            ({"sender": "UDMS"}, 1),
            ({"sender": "X/UDMS"}, 0),
            ({"received_after": "2026-03-01T00:00:00Z"}, 1),
            ({"received_before": "2026-03-01T00:00:00Z"}, 0),
            ({"filename": "DTC5259515123502080915D0010.uff"}, 1),
            ({"test_data": "true"}, 0),
        ],
    )
    def test_flow_files_filter_by_status_sender_and_date(self, reader, imported, params, count):
        assert reader.get("/api/flow-files/", params).json()["count"] == count

    @pytest.mark.parametrize(
        "params", [{"status": "done"}, {"sender": "??"}, {"received_after": "soon"}]
    )
    def test_bad_flow_file_filters_are_400s(self, reader, imported, params):
        assert reader.get("/api/flow-files/", params).status_code == 400

    def test_meter_points_and_meters_are_listed_and_filtered(self, reader, imported):
        points = reader.get("/api/meter-points/", {"mpan": MPAN_B}).json()
        meters = reader.get("/api/meters/", {"serial": "F75A 00802"}).json()

        assert [p["mpan_core"] for p in points["results"]] == [MPAN_B]
        assert [(m["serial_number"], m["mpan_core"]) for m in meters["results"]] == [
            ("F75A 00802", MPAN_A)
        ]
        assert reader.get("/api/meter-points/", {"mpan": "1"}).status_code == 400

    def test_an_unknown_id_is_a_404(self, reader, imported):
        assert reader.get("/api/flow-files/999999/").status_code == 404
        assert reader.get("/api/readings/999999/").status_code == 404


class TestUpload:
    def test_an_upload_imports_through_the_service_and_answers_201(self, uploader):
        response = upload(uploader, d0010_bytes(simple_groups("1234567890123")), "up.uff")

        assert response.status_code == 201
        body = response.json()
        assert (body["status"], body["readings_imported"], body["filename"]) == (
            "imported",
            1,
            "up.uff",
        )
        assert body["warnings"][0]["code"] == "MPAN_CHECK_DIGIT"
        assert Reading.objects.get().flow_file.filename == "up.uff"

    def test_a_file_with_errors_still_answers_201_with_its_errors(self, uploader):
        response = upload(uploader, d0010_bytes(simple_groups(value="abc")))

        assert response.status_code == 201
        assert response.json()["status"] == "imported_with_errors"
        assert response.json()["errors"][0]["line"] == 4

    def test_a_resend_is_a_409_naming_the_original(self, uploader):
        first = upload(uploader, d0010_bytes(simple_groups()), "a.uff").json()

        response = upload(uploader, d0010_bytes(simple_groups()), "b.uff")

        assert response.status_code == 409
        assert response.json()["duplicate_of"] == {
            "flow_file_id": first["flow_file_id"],
            "filename": "a.uff",
        }

    def test_a_complete_resend_after_a_truncated_copy_is_stored_and_linked(self, uploader):
        complete = d0010_bytes(simple_groups() + simple_groups(MPAN_B), file_id="7700000001")
        cut_in_second_mpan = complete.index(f"026|{MPAN_B}".encode()) + 8
        truncated = upload(uploader, complete[:cut_in_second_mpan], "trunc.uff").json()

        response = upload(uploader, complete, "full.uff")

        assert response.status_code == 201
        body = response.json()
        assert (body["status"], body["readings_imported"]) == ("imported_with_errors", 1)
        assert [error["code"] for error in body["errors"]] == ["IDENTIFIER_REUSED"]
        assert body["same_identifier_as"] == [
            {"flow_file_id": truncated["flow_file_id"], "filename": "trunc.uff"}
        ]
        full_page = uploader.get(f"/api/flow-files/{body['flow_file_id']}/").json()
        trunc_page = uploader.get(f"/api/flow-files/{truncated['flow_file_id']}/").json()
        assert [(f["id"], f["status"]) for f in full_page["same_identifier_files"]] == [
            (truncated["flow_file_id"], "imported_with_errors")
        ]
        assert [f["id"] for f in trunc_page["same_identifier_files"]] == [body["flow_file_id"]]
        assert Reading.objects.count() == 2

    def test_an_empty_file_is_recorded_as_rejected(self, uploader):
        response = upload(uploader, b"", "empty.uff")

        assert response.status_code == 400
        assert response.json()["errors"][0]["code"] == "EMPTY_FILE"
        record = FlowFile.objects.get()
        assert (record.filename, record.status) == ("empty.uff", FlowFileStatus.REJECTED)

    def test_a_rejected_file_is_a_400_with_its_findings(self, uploader):
        response = upload(uploader, b"\x00\x01binary")

        assert response.status_code == 400
        assert response.json()["errors"][0]["code"] == "BINARY_CONTENT"
        assert FlowFile.objects.get().status == FlowFileStatus.REJECTED

    def test_strict_refuses_a_file_with_errors(self, uploader):
        response = upload(uploader, d0010_bytes(simple_groups(value="x")), query="?strict=true")

        assert response.status_code == 400
        assert Reading.objects.count() == 0

    def test_dry_run_reports_and_stores_nothing(self, uploader):
        response = upload(uploader, d0010_bytes(simple_groups()), query="?dry_run=true")

        assert response.status_code == 200
        assert response.json()["readings_imported"] == 1 and response.json()["dry_run"]
        assert FlowFile.objects.count() == 0

    @pytest.mark.parametrize("query", ["?dry_run=perhaps", "?strict=&background=true"])
    def test_a_bad_or_empty_flag_is_a_400_and_nothing_is_recorded(self, uploader, query):
        response = upload(uploader, d0010_bytes(simple_groups()), query=query)

        assert response.status_code == 400
        assert set(response.json()) & {"dry_run", "strict"}
        assert FlowFile.objects.count() == 0

    def test_no_file_is_a_400(self, uploader):
        response = uploader.post("/api/flow-files/", {}, format="multipart")

        assert response.status_code == 400
        assert "file" in response.json()

    @override_settings(D0010_MAX_UPLOAD_BYTES=100)
    def test_a_file_over_the_limit_is_a_413(self, uploader):
        response = upload(uploader, d0010_bytes(simple_groups()))

        assert response.status_code == 413
        assert "100 bytes" in response.json()["detail"]
        assert FlowFile.objects.count() == 0

    @override_settings(D0010_MAX_UPLOAD_BYTES=100)
    def test_a_body_declared_over_the_limit_is_refused_unread(self, uploader):
        response = uploader.post(
            "/api/flow-files/",
            data=b"x" * 10,
            content_type="multipart/form-data; boundary=x",
            CONTENT_LENGTH=str(10**9),
        )

        assert response.status_code == 413

    def test_an_unexpected_failure_is_a_500_with_a_reference_not_internals(
        self, uploader, monkeypatch, caplog
    ):
        from meter_readings.services.batch import writer as batch_writer

        monkeypatch.setattr(batch_writer.BatchWriter, "flush", lambda self: 1 / 0)

        response = upload(uploader, d0010_bytes(simple_groups()))

        assert response.status_code == 500
        body = response.json()
        assert "ZeroDivisionError" not in response.content.decode()
        assert body["reference"] in body["detail"] and len(body["reference"]) == 12
        record = FlowFile.objects.get(pk=body["flow_file_id"])
        assert record.status == FlowFileStatus.FAILED
        assert "ZeroDivisionError" in record.failure_reason
        logged = [r for r in caplog.records if body["reference"] in r.getMessage()]
        assert logged and "ZeroDivisionError" in logged[0].getMessage()

    def test_any_other_unexpected_failure_answers_json_with_a_logged_reference(
        self, reader, imported, monkeypatch, caplog
    ):
        from meter_readings import selectors

        def broken():
            raise LookupError("table meter_readings_meterpoint is on fire")

        monkeypatch.setattr(selectors, "meter_points", broken)

        response = reader.get("/api/meter-points/")

        assert response.status_code == 500
        body = response.json()
        assert "on fire" not in response.content.decode()
        logged = [r for r in caplog.records if body["reference"] in r.getMessage()]
        assert logged and logged[0].exc_info[0] is LookupError


class TestDocumentation:
    def test_the_schema_swagger_ui_and_redoc_are_served_offline(self, client):
        schema = client.get("/api/schema/")
        swagger = client.get("/api/docs/")
        redoc = client.get("/api/redoc/")

        assert schema.status_code == 200 and b"/api/readings/export.csv" in schema.content
        assert swagger.status_code == 200 and b"drf_spectacular_sidecar" in swagger.content
        # ReDoc's bundle comes from this site, its footer logo pointed here too.
        assert redoc.status_code == 200 and b'src="/api/redoc/bundle.js"' in redoc.content
        assert b"cdn" not in swagger.content.lower()


class TestThrottling:
    def test_a_user_over_the_rate_is_told_to_wait(self, reader, imported, monkeypatch):
        from django.core.cache import cache
        from rest_framework.throttling import SimpleRateThrottle

        cache.clear()
        monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "user", "2/minute")

        statuses = [reader.get("/api/meter-points/").status_code for _ in range(3)]

        assert statuses == [200, 200, 429]
        cache.clear()
