"""The operator's console: browse and search what was imported (read-only).

Imported data is evidence, so nothing here adds, changes or deletes it: files come in
through the import service only.
"""

from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.functional import cached_property
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from meter_readings import selectors
from meter_readings.admin import pages
from meter_readings.services.reading_checks import set_register_digits
from meter_readings.d0010.mpan import DISTRIBUTORS, is_well_formed_core
from meter_readings.models import (
    READING_ITEMS,
    FlowFile,
    ImportFinding,
    Meter,
    MeterPoint,
    Reading,
    SiteVisit,
)

FINDINGS_SHOWN_INLINE = 200
RECENT_FLOW_FILES_IN_FILTER = 20
MONTHS_IN_FILTER = 24
# Lists stop counting here: "page 1 of 100+" is as useful as an exact count and costs
# a bounded query instead of a scan of every matching row.
COUNT_CAP = 10_000
# Register ids seen across the industry's files (J0010 has no central code list).
COMMON_REGISTER_IDS = ("S", "01", "02", "03", "TO", "A1", "DY", "NT", "MD")


class ViewOnly:
    """Viewing only; the import service is the one way data comes in."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(ViewOnly, admin.ModelAdmin):
    pass


class ReadOnlyInline(ViewOnly, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False


def admin_link(obj: Any, text: str | None = None) -> str:
    """An HTML link to ``obj``'s admin page."""
    if obj is None:
        return "-"
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text if text is not None else str(obj))


def history_link(meter_point: MeterPoint, text: str) -> str:
    """An HTML link to a meter point's history page (charts and every reading)."""
    url = reverse("admin:meter_readings_meterpoint_history", args=[meter_point.pk])
    return format_html('<a href="{}">{}</a>', url, text)


def changelist_link(model: type, text: str, **filters: Any) -> str:
    """An HTML link to ``model``'s list, filtered."""
    meta = model._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    return format_html('<a href="{}?{}">{}</a>', url, query, text)


class RegisterFilter(admin.SimpleListFilter):
    # A DISTINCT over every reading would scan the whole table on each page view; any
    # other register id still filters through the URL (?register=XY).
    title = "register"
    parameter_name = "register"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(register_id, register_id) for register_id in COMMON_REGISTER_IDS]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(register_id=self.value())
        return queryset


class CappedCountPaginator(Paginator):
    """Counts at most ``COUNT_CAP`` rows, so a page never scans the whole table."""

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by()[:COUNT_CAP].count()


class ReadingMonthFilter(admin.SimpleListFilter):
    # Django's date_hierarchy runs DISTINCT over a date function of every matching
    # row; this offers the months between the first and last reading (two index
    # lookups) and filters a read_at range (an index range scan).
    title = "reading month"
    parameter_name = "read_month"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # Two single-ended lookups: SQLite answers MIN and MAX from the index only one
        # at a time, and scans the table for both in one query.
        times = Reading.objects.values_list("read_at", flat=True)
        earliest = times.order_by("read_at").first()
        if earliest is None:
            return []
        first = timezone.localtime(earliest)
        last = timezone.localtime(times.order_by("-read_at").first())
        months = []
        year, month = last.year, last.month
        while (year, month) >= (first.year, first.month) and len(months) < MONTHS_IN_FILTER:
            months.append((f"{year:04d}-{month:02d}", f"{year:04d}-{month:02d}"))
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        return months

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        try:
            start = datetime.strptime(self.value(), "%Y-%m")
        except ValueError:
            return queryset.none()
        following = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        zone = timezone.get_current_timezone()
        return queryset.filter(
            read_at__gte=timezone.make_aware(start, zone),
            read_at__lt=timezone.make_aware(following, zone),
        )


class RecentFlowFileFilter(admin.SimpleListFilter):
    # The most recent files, from the small flow-file table; any file id still works
    # through the URL, and each flow file's page links to its readings.
    title = "flow file"
    parameter_name = "flow_file__id__exact"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        recent = FlowFile.objects.order_by("-pk").values_list("pk", "filename")
        return [(str(pk), filename) for pk, filename in recent[:RECENT_FLOW_FILES_IN_FILTER]]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(flow_file_id=self.value())
        return queryset


class FirstFindingsFormSet(BaseInlineFormSet):
    # A file with a million bad lines must still open: show the first findings and
    # link to the full, paginated list.
    def get_queryset(self) -> QuerySet:
        return super().get_queryset().order_by("line_number", "pk")[:FINDINGS_SHOWN_INLINE]


class ImportFindingInline(ReadOnlyInline):
    model = ImportFinding
    formset = FirstFindingsFormSet
    fields = ("line_number", "severity", "code", "field", "message")
    readonly_fields = fields
    verbose_name_plural = f"findings (first {FINDINGS_SHOWN_INLINE})"


@admin.register(FlowFile)
class FlowFileAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "filename",
        "status",
        "sender",
        "file_identifier",
        "received_at",
        "readings_imported",
        "reading_count",
        "error_count",
        "warning_count",
        "is_test",
        "duplicate_of_link",
        "readings_link",
    )
    list_display_links = ("id", "filename")
    # Rendering is most of a list page's time (its queries take a few ms at 100M
    # readings): 50 rows keep its p99 under 100 ms (PERFORMANCE.md, national book).
    list_per_page = 50
    change_list_template = "admin/meter_readings/flowfile/change_list.html"
    list_filter = ("status", "is_test", "from_participant_id", "received_at")
    search_fields = ("filename", "=file_identifier", "=sha256")
    date_hierarchy = "received_at"
    list_select_related = ("duplicate_of",)
    inlines = (ImportFindingInline,)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "filename",
                    "status",
                    "background_progress",
                    "duplicate_of_link",
                    "same_identifier_links",
                    "readings_link",
                )
            },
        ),
        (
            "Import",
            {
                "fields": (
                    "received_at",
                    "finished_at",
                    "strict",
                    "size_bytes",
                    "sha256",
                    "failure_reason",
                    "line_count",
                    "group_count",
                    "meter_point_count",
                    "reading_count",
                    "readings_imported",
                    "readings_duplicate",
                    "readings_superseding",
                    "error_count",
                    "warning_count",
                    "all_findings_link",
                )
            },
        ),
        (
            "ZHV header",
            {
                "fields": (
                    "file_identifier",
                    "flow_version",
                    ("from_role_code", "from_participant_id"),
                    ("to_role_code", "to_participant_id"),
                    "file_created_at",
                    "test_data_flag",
                    "is_test",
                )
            },
        ),
        (
            "ZPT trailer (as declared)",
            {
                "fields": (
                    "trailer_group_count",
                    "trailer_flow_count",
                    "trailer_checksum",
                    "file_completed_at",
                )
            },
        ),
    )

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.import_view), name="meter_readings_flowfile_import"),
            path("test-data/", wrap(self.test_data_view), name="meter_readings_flowfile_test_data"),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        return pages.import_page(self, request)

    def test_data_view(self, request: HttpRequest) -> HttpResponse:
        return pages.test_data_page(self, request)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra = {
            "can_import": request.user.has_perm("meter_readings.add_flowfile"),
            "test_data_enabled": pages.test_data_page_enabled() and request.user.is_superuser,
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=extra)

    @admin.display(description="sender", ordering="from_participant_id")
    def sender(self, obj: FlowFile) -> str:
        return obj.sender

    @admin.display(description="progress")
    def background_progress(self, obj: FlowFile) -> str:
        progress = selectors.background_progress(flow_file=obj)
        if progress is None:
            return "-"
        return (
            f"{progress['readings_stored']:,} readings stored, "
            f"{progress['bytes_read']:,} of {progress['bytes_total']:,} bytes read"
        )

    @admin.display(description="duplicate of")
    def duplicate_of_link(self, obj: FlowFile) -> str:
        return admin_link(obj.duplicate_of) if obj.duplicate_of_id else "-"

    @admin.display(description="same sender and identifier")
    def same_identifier_links(self, obj: FlowFile) -> str:
        others = selectors.files_sharing_identifier(flow_file=obj)
        if not others:
            return "-"
        return format_html_join(
            mark_safe("<br>"),
            "{} ({})",
            ((admin_link(other), other.get_status_display().lower()) for other in others),
        )

    @admin.display(description="readings")
    def readings_link(self, obj: FlowFile) -> str:
        return changelist_link(Reading, "readings", flow_file__id__exact=obj.pk)

    @admin.display(description="all findings")
    def all_findings_link(self, obj: FlowFile) -> str:
        return changelist_link(
            ImportFinding, f"all {obj.error_count + obj.warning_count}", flow_file__id__exact=obj.pk
        )


@admin.register(ImportFinding)
class ImportFindingAdmin(ReadOnlyAdmin):
    list_display = ("flow_file", "line_number", "severity", "code", "field", "message")
    list_filter = ("severity", "code")
    list_select_related = ("flow_file",)
    search_fields = ("=flow_file__filename", "code")
    show_full_result_count = False
    paginator = CappedCountPaginator


class MeterInline(ReadOnlyInline):
    model = Meter
    fields = ("serial_link", "readings_link")
    readonly_fields = fields

    @admin.display(description="serial number")
    def serial_link(self, obj: Meter) -> str:
        return admin_link(obj, obj.serial_number)

    @admin.display(description="readings")
    def readings_link(self, obj: Meter) -> str:
        return changelist_link(Reading, "readings", meter__id__exact=obj.pk)


@admin.register(MeterPoint)
class MeterPointAdmin(ReadOnlyAdmin):
    list_display = (
        "mpan_core",
        "history_link",
        "distributor_id",
        "distributor",
        "check_digit_valid",
        "is_amsid",
        "meter_count",
    )
    list_filter = ("distributor_id", "check_digit_valid", "is_amsid")
    search_fields = ("=mpan_core",)
    inlines = (MeterInline,)
    fields = ("mpan_core", "distributor_id", "distributor", "check_digit_valid", "is_amsid")
    readonly_fields = ("distributor",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(meter_total=Count("meters"))

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("lookup/", wrap(self.lookup_view), name="meter_readings_meterpoint_lookup"),
            path(
                "<int:pk>/history/",
                wrap(self.history_view),
                name="meter_readings_meterpoint_history",
            ),
            path(
                "<int:pk>/consumption.csv",
                wrap(self.consumption_csv_view),
                name="meter_readings_meterpoint_consumption_csv",
            ),
            path(
                "stale-reads.csv",
                wrap(pages.stale_reads_csv),
                name="meter_readings_meterpoint_stale_reads_csv",
            ),
            *super().get_urls(),
        ]

    def lookup_view(self, request: HttpRequest) -> HttpResponse:
        return pages.mpan_lookup(self, request)

    def history_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return pages.meter_point_history_page(self, request, pk)

    def consumption_csv_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return pages.meter_point_consumption_csv(request, pk)

    @admin.display(description="readings and charts")
    def history_link(self, obj: MeterPoint) -> str:
        return history_link(obj, "history")

    @admin.display(description="distributor")
    def distributor(self, obj: MeterPoint) -> str:
        return DISTRIBUTORS.get(obj.distributor_id, "AMSID" if obj.is_amsid else "unknown")

    @admin.display(description="meters", ordering="meter_total")
    def meter_count(self, obj: MeterPoint) -> int:
        return obj.meter_total


@admin.register(Meter)
class MeterAdmin(admin.ModelAdmin):
    """Read-only but for the register digits: the supplier's standing data, which the
    checks use (saving one re-checks the meter's readings)."""

    list_display = ("serial_number", "mpan", "register_digits", "readings_link")
    list_select_related = ("meter_point",)
    search_fields = ("=serial_number", "=meter_point__mpan_core")
    fields = ("serial_number", "mpan", "register_digits", "readings_link")
    readonly_fields = ("serial_number", "mpan", "readings_link")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Meter, form: Any, change: bool) -> None:
        counts = set_register_digits(
            meter=obj, digits=form.cleaned_data.get("register_digits"), now=timezone.now()
        )
        messages.info(
            request,
            f"Re-checked {counts.registers} register(s): {counts.raised} exception(s) raised, "
            f"{counts.auto_resolved} auto-resolved.",
        )

    @admin.display(description="MPAN", ordering="meter_point__mpan_core")
    def mpan(self, obj: Meter) -> str:
        return admin_link(obj.meter_point)

    @admin.display(description="readings")
    def readings_link(self, obj: Meter) -> str:
        return changelist_link(Reading, "readings", meter__id__exact=obj.pk)


@admin.register(Reading)
class ReadingAdmin(ReadOnlyAdmin):
    list_display = (
        "mpan",
        "serial_number",
        "register_id",
        "read_at",
        "value",
        "reading_type",
        "bsc_validation_status",
        "reading_flag",
        "reading_method",
        "is_superseded",
        "source_file",
    )
    list_display_links = ("read_at",)
    # See FlowFileAdmin.list_per_page.
    list_per_page = 50
    list_select_related = ("meter__meter_point", "flow_file")
    list_filter = (
        "reading_type",
        "bsc_validation_status",
        "reading_flag",
        "reading_method",
        RegisterFilter,
        "is_superseded",
        RecentFlowFileFilter,
        ReadingMonthFilter,
    )
    paginator = CappedCountPaginator
    search_fields = ("=meter__serial_number", "=flow_file__filename")
    search_help_text = (
        "A 13-digit MPAN core, an exact meter serial number (spaces included) or an exact "
        "source filename."
    )
    show_full_result_count = False
    fields = (
        "mpan",
        "serial_number",
        "register_id",
        "read_at",
        *READING_ITEMS,
        "is_superseded",
        "superseded_by_link",
        "supersedes_link",
        "source_file",
        "line_number",
    )
    readonly_fields = fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        # The whole term is one value: serials contain spaces, and a 13-digit MPAN
        # must hit the unique index with '=' rather than a LIKE scan. Terms become ids
        # first (see selectors) so the reading table is searched by index too.
        term = search_term.strip()
        if not term:
            return queryset, False
        if is_well_formed_core(term):
            return queryset.filter(meter_id__in=selectors.meter_ids_for_mpan(mpan_core=term)), False
        meter_ids = selectors.meter_ids_for_serial(serial_number=term)
        file_ids = selectors.flow_file_ids_named(filename=term)
        return queryset.filter(Q(meter_id__in=meter_ids) | Q(flow_file_id__in=file_ids)), False

    @admin.display(description="MPAN", ordering="meter__meter_point__mpan_core")
    def mpan(self, obj: Reading) -> str:
        return history_link(obj.meter.meter_point, obj.meter.meter_point.mpan_core)

    @admin.display(description="meter serial", ordering="meter__serial_number")
    def serial_number(self, obj: Reading) -> str:
        return admin_link(obj.meter, obj.meter.serial_number)

    @admin.display(description="source file", ordering="flow_file__filename")
    def source_file(self, obj: Reading) -> str:
        return admin_link(obj.flow_file, obj.flow_file.filename)

    @admin.display(description="superseded by")
    def superseded_by_link(self, obj: Reading) -> str:
        later = Reading.objects.filter(supersedes=obj).first()
        return admin_link(later) if later else "-"

    @admin.display(description="supersedes")
    def supersedes_link(self, obj: Reading) -> str:
        return admin_link(obj.supersedes) if obj.supersedes_id else "-"


@admin.register(SiteVisit)
class SiteVisitAdmin(ReadOnlyAdmin):
    list_display = ("level", "check_code", "meter_point", "meter", "reading", "flow_file")
    list_filter = ("level", "check_code")
    list_select_related = ("meter_point", "meter", "reading", "flow_file")
    search_fields = ("=meter_point__mpan_core", "=meter__serial_number")
