"""API views: thin translations between HTTP and the selectors and import service."""

import logging
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from django.conf import settings
from django.utils import timezone
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.utils.urls import replace_query_param
from rest_framework.filters import OrderingFilter
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.throttling import ScopedRateThrottle
from django_filters.rest_framework import DjangoFilterBackend

from meter_readings import selectors
from meter_readings.filters import (
    FlowFileFilter,
    MeterFilter,
    MeterPointFilter,
    ReadingExceptionFilter,
    ReadingFilter,
)
from meter_readings.api.errors import failure_response, new_reference
from meter_readings.api.pagination import ReadingCursorPagination, StandardPagination
from meter_readings.api.serializers import (
    ErrorSerializer,
    FailureSerializer,
    FindingSerializer,
    FlowFileDetailSerializer,
    FlowFileSerializer,
    FlowFileUploadSerializer,
    ImportSummarySerializer,
    HistoryEntrySerializer,
    MeterPointSerializer,
    MeterSerializer,
    ReadingExceptionChangeSerializer,
    ReadingExceptionSerializer,
    ReadingSerializer,
    RegisterConsumptionSerializer,
    StaleBucketSerializer,
    StaleMeterPointSerializer,
)
from meter_readings.export import csv_lines
from meter_readings.models import FlowFileStatus, MeterPoint, ReadingException
from meter_readings.reporting import report_as_dict
from meter_readings.services import UnableToImportFlowFile
from meter_readings.services.exception_workflow import (
    ExceptionAction,
    ExceptionChangeRefused,
    change_exceptions,
)
from meter_readings.services.receiving import (
    DryRunCannotBeQueued,
    ImportOptions,
    UploadTooLarge,
    receive_upload,
    refuse_oversized_request,
)

logger = logging.getLogger(__name__)

FILTER_ERRORS = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description=(
        "A filter value is invalid: an object naming each bad parameter with a list of "
        'reasons, e.g. {"mpan": ["An MPAN core is exactly 13 digits."]}.'
    ),
)
NOT_AUTHENTICATED = OpenApiResponse(ErrorSerializer, description="No valid token or session.")
FORBIDDEN = OpenApiResponse(ErrorSerializer, description="The user lacks the permission.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such object.")
INVALID_PAGE = OpenApiResponse(ErrorSerializer, description="Invalid page or cursor.")
UNSUPPORTED_MEDIA = OpenApiResponse(
    ErrorSerializer, description="The body's media type is not accepted here, or unreadable."
)
LIST_ERRORS = {400: FILTER_ERRORS, 401: NOT_AUTHENTICATED, 403: FORBIDDEN, 404: INVALID_PAGE}
DETAIL_ERRORS = {401: NOT_AUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND}


def _query_flag(request: Request, name: str) -> bool:
    """Read a true/false query parameter; anything else is a 400 naming it."""
    raw = request.query_params.get(name, "false").strip().lower()
    if raw in ("true", "1", "yes"):
        return True
    # Present but empty is an error, as for every other parameter (not "no flag").
    if raw in ("false", "0", "no"):
        return False
    raise ValidationError({name: [f"{raw!r} is not true or false."]})


class CsvRenderer(BaseRenderer):
    """Lets clients ask for text/csv; the export view streams its own body."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context=None):
        return data


@extend_schema_view(
    list=extend_schema(
        summary="List flow files",
        description="Every file offered for import, newest first, whatever became of it.",
        responses={200: FlowFileSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="One flow file",
        description="With the other files under its sender and file identifier.",
        responses={200: FlowFileDetailSerializer, **DETAIL_ERRORS},
    ),
)
class FlowFileViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = FlowFileSerializer
    filterset_class = FlowFileFilter
    filter_backends = (DjangoFilterBackend, OrderingFilter)
    ordering_fields = ("id", "received_at", "filename")
    ordering = ("-id",)
    pagination_class = StandardPagination
    parser_classes = (MultiPartParser, FormParser)

    def get_queryset(self):
        return selectors.flow_files()

    def get_serializer_class(self):
        if self.action == "retrieve":
            return FlowFileDetailSerializer
        return super().get_serializer_class()

    def get_throttles(self):
        if self.action == "create":
            self.throttle_scope = "uploads"
            return [*super().get_throttles(), ScopedRateThrottle()]
        return super().get_throttles()

    @extend_schema(
        summary="Findings of a flow file",
        description="Every problem found in the file, in line order.",
        responses={
            200: FindingSerializer(many=True),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="A bad page_size."),
            **DETAIL_ERRORS,
        },
    )
    @action(detail=True, methods=["get"], pagination_class=StandardPagination, filter_backends=[])
    def findings(self, request: Request, pk: str | None = None) -> Response:
        flow_file = self.get_object()
        page = self.paginate_queryset(selectors.findings_of(flow_file=flow_file))
        return self.get_paginated_response(FindingSerializer(page, many=True).data)

    @extend_schema(
        summary="Upload and import a D0010 file",
        description=(
            "Imports the file through the same service as `manage.py import_d0010`, in one "
            "transaction. `dry_run` reports without storing; `strict` refuses a file with "
            "any error; `background` stores the file and queues the import for a Celery "
            "worker (in-process when no broker is configured)."
        ),
        request={"multipart/form-data": FlowFileUploadSerializer},
        parameters=[
            OpenApiParameter("dry_run", OpenApiTypes.BOOL, description="Store nothing."),
            OpenApiParameter("strict", OpenApiTypes.BOOL, description="Refuse on any error."),
            OpenApiParameter(
                "background",
                OpenApiTypes.BOOL,
                description="Queue the import for a worker and answer 202 at once.",
            ),
        ],
        responses={
            202: OpenApiResponse(
                inline_serializer(
                    "QueuedImport",
                    {
                        "flow_file_id": serializers.IntegerField(),
                        "status": serializers.CharField(),
                        "status_url": serializers.URLField(),
                    },
                ),
                description="Queued: follow status_url (also in Location) for the outcome.",
            ),
            201: OpenApiResponse(ImportSummarySerializer, description="Imported."),
            200: OpenApiResponse(ImportSummarySerializer, description="Dry run: nothing stored."),
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description=(
                    "Either the file was rejected: an import summary (as for 201) with "
                    'status "rejected" and its findings; or the request was wrong (no file, '
                    "a bad dry_run or strict value): each field with a list of reasons."
                ),
            ),
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            409: OpenApiResponse(
                ImportSummarySerializer, description="A resend: names the original file."
            ),
            413: OpenApiResponse(ErrorSerializer, description="Larger than the upload limit."),
            415: UNSUPPORTED_MEDIA,
            500: OpenApiResponse(
                FailureSerializer,
                description="The import failed unexpectedly: a reference the log carries too.",
            ),
        },
    )
    def create(self, request: Request) -> Response:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        try:
            # Before the body is read.
            refuse_oversized_request(declared_bytes=declared)
            options = ImportOptions(
                strict=_query_flag(request, "strict"),
                dry_run=_query_flag(request, "dry_run"),
                background=_query_flag(request, "background"),
            )
        except UploadTooLarge as refusal:
            return _too_large(refusal)
        except DryRunCannotBeQueued as refusal:
            raise ValidationError({"background": [f"{str(refusal).capitalize()}."]})
        upload_form = FlowFileUploadSerializer(data=request.data)
        upload_form.is_valid(raise_exception=True)
        try:
            received = receive_upload(upload=upload_form.validated_data["file"], options=options)
        except UploadTooLarge as refusal:
            return _too_large(refusal)
        except UnableToImportFlowFile as failure:
            # The service logged the traceback; the reference ties this answer to it.
            reference = new_reference()
            logger.error(
                "Upload of %s failed (reference %s, flow file %s): %s",
                failure.filename,
                reference,
                failure.flow_file_id,
                failure.reason,
                extra={"reference": reference},
            )
            return failure_response(
                reference=reference,
                detail="The import failed unexpectedly: nothing from the file was stored, and "
                "the failure is recorded on its flow file.",
                flow_file_id=failure.flow_file_id,
            )
        if received.queued is not None:
            url = reverse("flow-file-detail", args=[received.queued.pk], request=request)
            return Response(
                {
                    "flow_file_id": received.queued.pk,
                    "status": received.queued.status.lower(),
                    "status_url": url,
                },
                status=status.HTTP_202_ACCEPTED,
                headers={"Location": url},
            )
        report = received.report
        assert report is not None
        if report.status == FlowFileStatus.DUPLICATE:
            code = status.HTTP_409_CONFLICT
        elif report.status == FlowFileStatus.REJECTED:
            code = status.HTTP_400_BAD_REQUEST
        elif options.dry_run:
            code = status.HTTP_200_OK
        else:
            code = status.HTTP_201_CREATED
        return Response(report_as_dict(report), status=code)


def _too_large(refusal: UploadTooLarge) -> Response:
    return Response(
        {"detail": f"{str(refusal).capitalize()}."},
        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )


@extend_schema_view(
    list=extend_schema(
        summary="List meter points",
        responses={200: MeterPointSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="One meter point", responses={200: MeterPointSerializer, **DETAIL_ERRORS}
    ),
)
class MeterPointViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = MeterPointSerializer
    filterset_class = MeterPointFilter
    filter_backends = (DjangoFilterBackend, OrderingFilter)
    ordering_fields = ("id", "mpan_core")
    ordering = ("id",)
    pagination_class = StandardPagination

    def get_queryset(self):
        return selectors.meter_points()

    @extend_schema(
        summary="Consumption of a meter point",
        description=(
            "For each meter and register, every current reading in time order with the "
            "advance, days and advance per day since the previous valid reading: "
            "withdrawn and collector-failed readings are listed but not counted, a meter "
            "exchange starts a new chain, a register roll-over is wrapped and flagged. "
            "Needs the readings' view permission too."
        ),
        responses={200: RegisterConsumptionSerializer(many=True), **DETAIL_ERRORS},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def consumption(self, request: Request, pk: str | None = None) -> Response:
        if not request.user.has_perm("meter_readings.view_reading"):
            raise PermissionDenied
        meter_point = self.get_object()
        registers = selectors.meter_point_consumption(meter_point=meter_point)
        return Response(RegisterConsumptionSerializer(registers, many=True).data)


@extend_schema_view(
    list=extend_schema(
        summary="List meters", responses={200: MeterSerializer(many=True), **LIST_ERRORS}
    ),
    retrieve=extend_schema(summary="One meter", responses={200: MeterSerializer, **DETAIL_ERRORS}),
)
class MeterViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = MeterSerializer
    filterset_class = MeterFilter
    filter_backends = (DjangoFilterBackend, OrderingFilter)
    ordering_fields = ("id", "serial_number")
    ordering = ("id",)
    pagination_class = StandardPagination

    def get_queryset(self):
        return selectors.meters()


@extend_schema_view(
    list=extend_schema(
        summary="List readings",
        description=(
            "Cursor-paginated: follow `next` and `previous`; any page costs what the first "
            "costs. `ordering` takes id, -id, read_at or -read_at (default -id)."
        ),
        responses={200: ReadingSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="One reading", responses={200: ReadingSerializer, **DETAIL_ERRORS}
    ),
)
class ReadingViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = ReadingSerializer
    filterset_class = ReadingFilter
    filter_backends = (DjangoFilterBackend, OrderingFilter)
    ordering_fields = ("id", "read_at")
    ordering = ("-id",)
    pagination_class = ReadingCursorPagination

    def get_queryset(self):
        return selectors.readings()

    @extend_schema(
        summary="Export readings as CSV",
        description=(
            "The same filters as the list, streamed as CSV in id order (a million rows "
            "need no more memory than ten). Date-times are ISO 8601 in GB local time."
        ),
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV rows."),
            **LIST_ERRORS,
        },
    )
    def export(self, request: Request) -> StreamingHttpResponse:
        """Mapped at /api/readings/export.csv (see urls.py), with EXPORT_RENDERERS."""
        readings = self.filterset_class(
            request.query_params, queryset=self.get_queryset(), request=request
        )
        if not readings.is_valid():
            raise ValidationError(readings.errors)
        response = StreamingHttpResponse(
            csv_lines(readings.qs.order_by("id")), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="readings.csv"'
        return response


EXPORT_RENDERERS = (JSONRenderer, CsvRenderer)


@extend_schema(
    summary="Get an API token",
    description=(
        "Exchange a username and password for the user's token. Requests are rate-limited "
        "per client address, and a username is locked out from an address after repeated "
        "wrong passwords (429 in both cases)."
    ),
    responses={
        200: inline_serializer("Token", {"token": serializers.CharField()}),
        400: OpenApiResponse(
            OpenApiTypes.OBJECT,
            description="Missing or wrong credentials: each field with a list of reasons.",
        ),
        415: UNSUPPORTED_MEDIA,
        429: OpenApiResponse(
            ErrorSerializer, description="Too many requests, or too many failed logins."
        ),
    },
)
class TokenView(ObtainAuthToken):
    """DRF's token exchange, documented, rate-limited and locked out by django-axes."""

    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "login"

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Axes refuses a locked-out username inside authenticate(), which DRF reports as
        # wrong credentials: say what really happened.
        username = request.data.get("username") if hasattr(request.data, "get") else None
        # Only a username the serializer would take: PostgreSQL refuses NUL in text,
        # and the serializer answers any other with a 400 naming the field.
        readable = isinstance(username, str) and username and "\x00" not in username
        if readable and AxesProxyHandler.is_locked(request, {"username": username}):
            return Response(
                {"detail": "Too many failed logins for this username: try again later."},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
            )
        return super().post(request, *args, **kwargs)


class ExceptionCursorPagination(ReadingCursorPagination):
    page_size = 50


@extend_schema_view(
    list=extend_schema(
        summary="List reading exceptions",
        description=(
            "The exceptions queue: readings that failed a check, newest first, cursor-"
            "paginated. Filter by rule, J0332 reason, sender, status (repeat for several) "
            "and age band."
        ),
        responses={200: ReadingExceptionSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="One reading exception",
        responses={200: ReadingExceptionSerializer, **DETAIL_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Acknowledge, resolve or reopen an exception",
        description=(
            "Moves the exception to `status` with `note` (needed to resolve); the change, "
            "the user and the note are kept in its history. Needs the change permission."
        ),
        request=ReadingExceptionChangeSerializer,
        responses={
            200: ReadingExceptionSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="A bad status or note, or a change the exception's state "
                "does not allow: each field with a list of reasons.",
            ),
            415: UNSUPPORTED_MEDIA,
            **DETAIL_ERRORS,
        },
    ),
)
class ReadingExceptionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = ReadingExceptionSerializer
    filterset_class = ReadingExceptionFilter
    pagination_class = ExceptionCursorPagination
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.reading_exceptions()

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        exception = self.get_object()
        change = ReadingExceptionChangeSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        action = {
            "acknowledged": ExceptionAction.ACKNOWLEDGE,
            "resolved": ExceptionAction.RESOLVE,
            "open": ExceptionAction.REOPEN,
        }[change.validated_data["status"]]
        try:
            changed, _ = change_exceptions(
                exceptions=ReadingException.objects.filter(pk=exception.pk),
                action=action,
                note=change.validated_data["note"],
                user=request.user,
                now=timezone.now(),
            )
        except ExceptionChangeRefused as refusal:
            raise ValidationError({refusal.field: [str(refusal)]})
        if not changed:
            raise ValidationError(
                {
                    "status": [
                        f"An exception that is {exception.get_status_display().lower()} "
                        f"cannot be {change.validated_data['status'].replace('open', 'reopened')}."
                    ]
                }
            )
        exception.refresh_from_db()
        return Response(ReadingExceptionSerializer(exception).data)

    @extend_schema(
        summary="An exception's history",
        description="Every state it was in, oldest first: when, who (none for the checks), "
        "the note and what changed.",
        responses={200: HistoryEntrySerializer(many=True), **DETAIL_ERRORS},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request: Request, pk: str | None = None) -> Response:
        exception = self.get_object()
        entries = exception.history.select_related("history_user").order_by("history_id")
        return Response(HistoryEntrySerializer(entries, many=True).data)


class StaleReadPagination(StandardPagination):
    """Pages without a total: the buckets count the meter points, and a COUNT of every
    stale one would cost what the list saves."""

    page_size = 100

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        size = self.get_page_size(request)
        number = self.get_page_number(request, None)
        if not str(number).isdigit() or int(number) < 1:
            raise NotFound("Invalid page.")
        self.number = int(number)
        start = (self.number - 1) * size
        rows = list(queryset[start : start + size + 1])
        self.has_next = len(rows) > size
        return rows[:size]

    def get_paginated_response(self, data):
        url = self.request.build_absolute_uri()
        return Response(
            {
                "next": (
                    replace_query_param(url, "page", self.number + 1) if self.has_next else None
                ),
                "previous": (
                    replace_query_param(url, "page", self.number - 1) if self.number > 1 else None
                ),
                "results": data,
            }
        )


@extend_schema(
    summary="Stale reads",
    description=(
        "Meter points whose last valid actual reading is older than `months` (default "
        "12), oldest first, page by page (`never_read=true`: those that never had one); "
        "with every meter point counted by months since its last valid actual reading "
        "(6-12, 12-14, 14+) and those never validly read."
    ),
    parameters=[
        OpenApiParameter(
            "months", OpenApiTypes.INT, description="Older than this many months (1-240)."
        ),
        OpenApiParameter(
            "never_read",
            OpenApiTypes.BOOL,
            description="List the meter points never validly and actually read instead.",
        ),
        OpenApiParameter("page", OpenApiTypes.INT, description="Page number."),
        OpenApiParameter("page_size", OpenApiTypes.INT, description="Rows per page (1-500)."),
    ],
    responses={
        200: inline_serializer(
            "StaleReads",
            {
                "months": serializers.IntegerField(),
                "buckets": StaleBucketSerializer(many=True),
                "never_read": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": StaleMeterPointSerializer(many=True),
            },
        ),
        **LIST_ERRORS,
    },
)
class StaleReadsView(generics.GenericAPIView):
    """The stale-read report (the dashboard's, as JSON)."""

    pagination_class = StaleReadPagination
    filter_backends: list = []
    # The report lists meter points: their view permission.
    queryset = MeterPoint.objects.none()

    def get(self, request: Request) -> Response:
        months = _months_parameter(request)
        never_read = _query_flag(request, "never_read")
        now = timezone.now()
        page = self.paginate_queryset(
            selectors.stale_meter_points(now=now, months=months, never_read=never_read)
        )
        response = self.get_paginated_response(StaleMeterPointSerializer(page, many=True).data)
        summary = selectors.stale_read_summary(now=now)
        response.data = {
            "months": months,
            "buckets": summary["buckets"],
            "never_read": summary["never_read"],
            **response.data,
        }
        return response


def _months_parameter(request: Request) -> int:
    raw = request.query_params.get("months")
    if raw is None:
        return settings.D0010_STALE_READ_MONTHS
    if not raw.isdigit() or not 1 <= int(raw) <= 240:
        raise ValidationError({"months": ["A whole number of months from 1 to 240."]})
    return int(raw)
