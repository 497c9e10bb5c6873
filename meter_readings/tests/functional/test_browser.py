"""The console in a real browser: headless Chromium driven by Selenium.

Screenshots go to test-artifacts/screenshots/ (git-ignored); the user guide's pictures
are copied from there.
"""

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.staticfiles.testing import StaticLiveServerTestCase
from django.utils import timezone

from meter_readings.models import FlowFile, Reading
from meter_readings.services import import_flow_file

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
SAMPLE_DATA = Path(settings.BASE_DIR) / "sample_data"
PASSWORD = "browser-test-password-1"

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian's chromium and chromium-driver are not installed (make test installs them)",
)


class ConsoleInBrowser(StaticLiveServerTestCase):
    """Shared set-up: sample data, an operator account, a headless browser."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,1000",
        ):
            options.add_argument(flag)
        # The console's messages, where Chromium reports Content-Security-Policy violations.
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        cls.browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        cls.browser.implicitly_wait(5)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    @classmethod
    def tearDownClass(cls):
        cls.browser.quit()
        super().tearDownClass()

    def setUp(self):
        for path in sorted(SAMPLE_DATA.glob("*.uff")):
            with path.open("rb") as stream:
                import_flow_file(stream=stream, filename=path.name, received_at=timezone.now())
        User.objects.create_superuser("operator", "", PASSWORD)
        self.log_in()

    def open(self, path: str) -> None:
        self.browser.get(f"{self.live_server_url}{path}")

    def find(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.browser.find_element(By.CSS_SELECTOR, selector)

    def find_all(self, selector: str) -> list:
        from selenium.webdriver.common.by import By

        return self.browser.find_elements(By.CSS_SELECTOR, selector)

    def log_in(self) -> None:
        self.open("/admin/login/")
        self.find("#id_username").send_keys("operator")
        self.find("#id_password").send_keys(PASSWORD)
        self.click_and_wait("input[type=submit]")
        assert self.find("#dashboard")

    def screenshot(self, name: str) -> None:
        self.browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))

    def chart_drawn(self, canvas_id: str) -> bool:
        return self.browser.execute_script(
            "return typeof Chart !== 'undefined' &&"
            " Chart.getChart(document.getElementById(arguments[0])) !== undefined;",
            canvas_id,
        )

    def search_readings(self, term: str) -> list[str]:
        self.open("/admin/meter_readings/reading/")
        from selenium.webdriver.common.keys import Keys

        self.mark_page()
        box = self.find("#searchbar")
        box.clear()
        # Enter submits the search, as an operator would.
        box.send_keys(term, Keys.ENTER)
        self.wait_for_new_page()
        return [row.text for row in self.find_all("#result_list tbody tr")]

    def click_and_wait(self, selector: str) -> None:
        """Click something that loads a new page, and wait until it has."""
        self.mark_page()
        self.find(selector).click()
        self.wait_for_new_page()

    def mark_page(self) -> None:
        # A flag on this page's window: a new page has a new window without it. (Waiting
        # on an element going stale races with Chromium replacing the document.)
        self.browser.execute_script("window.__d0010_old_page = true;")

    def wait_for_new_page(self) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.browser, 15).until(
            lambda browser: browser.execute_script(
                "return window.__d0010_old_page === undefined"
                " && document.readyState === 'complete';"
            )
        )


class TestConsole(ConsoleInBrowser):
    def test_the_dashboard_shows_totals_latest_imports_and_its_chart(self):
        self.open("/admin/")

        assert self.find("#total-readings").text == str(Reading.objects.count())
        assert "D0010_UDMS_0000500006_monthly.uff" in self.find("#latest-imports").text
        assert self.chart_drawn("readings-per-day")
        self.screenshot("01-dashboard")

    def test_an_upload_on_the_import_page_shows_its_summary(self):
        upload = Path(settings.BASE_DIR) / "test-artifacts" / "upload_with_problems.uff"
        upload.write_bytes(
            b"ZHV|0000990001|D0010002|D|UDMS|X|MRCY|20261120110000||||OPER|\n"
            b"026|1234567890123|V|\n028|F75A 00802|C|\n030|S|20261101000000|4321.5|||T|N|\n"
            b"030|S|20261102000000|-3|||T|N|\nZPT|0000990001|4||1|20261120110001|\n"
        )
        self.open("/admin/meter_readings/flowfile/")
        self.find("#import-files-link").click()

        self.find("#id_files").send_keys(str(upload))
        self.click_and_wait("#import-form input[type=submit]")

        result = self.find(".import-result").text
        assert "upload_with_problems.uff: imported with errors" in result
        assert "1 of 2 readings stored" in result
        assert "NEGATIVE_READING" in result and "MPAN_CHECK_DIGIT" in result
        assert FlowFile.objects.filter(filename="upload_with_problems.uff").exists()
        self.screenshot("02-import-page")

    def test_readings_are_found_by_mpan_serial_and_filename(self):
        reading = Reading.objects.select_related("meter__meter_point", "flow_file").first()
        mpan = reading.meter.meter_point.mpan_core

        by_mpan = self.search_readings(mpan)
        by_serial = self.search_readings(reading.meter.serial_number)
        self.screenshot("03-reading-search")
        by_file = self.search_readings(reading.flow_file.filename)

        assert by_mpan and all(mpan in row for row in by_mpan)
        assert by_serial and all(reading.meter.serial_number in row for row in by_serial)
        assert len(by_file) == Reading.objects.filter(flow_file=reading.flow_file).count()

    def test_a_reading_links_to_the_file_it_came_from(self):
        reading = Reading.objects.select_related("meter__meter_point", "flow_file").first()
        self.search_readings(reading.meter.meter_point.mpan_core)
        self.click_and_wait("#result_list tbody tr th a")
        self.screenshot("04-reading-page")

        self.click_and_wait(f"a[href$='/flowfile/{reading.flow_file_id}/change/']")

        assert reading.flow_file.filename in self.find("#content").text
        self.screenshot("05-flow-file-page")

    def test_a_meter_point_page_draws_a_chart_for_each_register(self):
        corrected = (
            Reading.objects.filter(is_superseded=True).select_related("meter__meter_point").first()
        )
        self.open("/admin/")
        self.find("#mpan-lookup").send_keys(corrected.meter.meter_point.mpan_core)
        self.click_and_wait(".d0010-lookup button")

        canvases = self.find_all("canvas.register-chart")
        assert canvases and all(self.chart_drawn(canvas.get_attribute("id")) for canvas in canvases)
        assert self.find_all("tr.superseded")
        self.screenshot("06-meter-point-corrected")

    def test_a_smart_meter_chart_shows_a_week_of_reads_and_their_consumption(self):
        smart = Reading.objects.filter(reading_type="X", meter__serial_number__startswith="SM0")
        meter_point = smart.select_related("meter__meter_point").first().meter.meter_point

        self.open(f"/admin/meter_readings/meterpoint/{meter_point.pk}/history/")

        [canvas] = self.find_all("canvas.register-chart")
        points = self.browser.execute_script(
            "return Chart.getChart(arguments[0]).data.datasets[0].data.length;", canvas
        )
        assert points == smart.filter(meter__meter_point=meter_point).count() == 7
        self.screenshot("07-meter-point-smart")


class TestContentSecurityPolicy(ConsoleInBrowser):
    def test_every_page_works_within_the_policy(self):
        meter_point = Reading.objects.select_related("meter").first().meter.meter_point_id
        self.browser.get_log("browser")  # forget the log-in's messages

        for path in (
            "/admin/",
            f"/admin/meter_readings/meterpoint/{meter_point}/history/",
            "/admin/meter_readings/flowfile/import/",
            "/admin/meter_readings/reading/",
        ):
            self.open(path)
            assert self.find("#content")
        self.open("/api/docs/")
        assert self.find(".swagger-ui .information-container")
        self.open("/api/redoc/")
        assert self.find("redoc .api-content")

        messages = [entry["message"] for entry in self.browser.get_log("browser")]
        assert [m for m in messages if "Content Security Policy" in m] == []
        logo = self.find("redoc img[alt='redocly logo']").get_attribute("src")
        assert logo.startswith(self.live_server_url)


class TestWorkingAnException(ConsoleInBrowser):
    """From the dashboard to a resolved exception, as the meter-reading team works one."""

    def setUp(self):
        super().setUp()
        import io

        from meter_readings.tests.d0010_files import MPAN_A, d0010_bytes, reading_line

        for file_id, day, value in (("0000900001", "01", "500.0"), ("0000900002", "02", "400.0")):
            groups = [f"026|{MPAN_A}|V|", "028|F75A 00802|R|"]
            groups.append(reading_line("S", f"202601{day}000000", value))
            import_flow_file(
                stream=io.BytesIO(d0010_bytes(groups, file_id=file_id)),
                filename=f"{file_id}.uff",
                received_at=timezone.now(),
            )

    def test_an_exception_is_worked_from_the_dashboard_to_resolved(self):
        from selenium.webdriver.support.ui import Select

        from meter_readings.models import ReadingException

        self.open("/admin/")
        report = self.find("#open-exceptions")
        assert "Negative advance" in report.text
        self.browser.execute_script(
            "arguments[0].scrollIntoView(); window.scrollBy(0, -60);", report
        )
        self.screenshot("08-dashboard-reports")

        self.click_and_wait("#exceptions-queue")
        rows = self.find_all("#result_list tbody tr")
        negative = next(row for row in rows if "Negative advance" in row.text)
        self.screenshot("09-exceptions-queue")

        # Its meter point's page marks it on the chart.
        self.mark_page()
        negative.find_element("css selector", "td.field-mpan a").click()
        self.wait_for_new_page()
        assert self.find("tr.has-exception a.exception")
        assert all(
            self.chart_drawn(canvas.get_attribute("id"))
            for canvas in self.find_all("canvas.register-chart")
        )
        self.screenshot("10-meter-point-exception")

        self.browser.back()
        self.wait_for_new_page_or_same()
        rows = self.find_all("#result_list tbody tr")
        negative = next(row for row in rows if "Negative advance" in row.text)
        negative.find_element("css selector", "input.action-select").click()
        Select(self.find("select[name=action]")).select_by_value("resolve")
        self.click_and_wait("button[name=index]")
        self.find("#id_note").send_keys("Customer's own read confirmed the earlier value.")
        self.screenshot("11-resolve-with-a-note")
        self.click_and_wait("input[type=submit][value=Resolve]")

        assert "1 exception(s) resolved." in self.find("ul.messagelist").text
        exception = ReadingException.objects.get(rule="NEGATIVE_ADVANCE")
        assert exception.status == "RESOLVED"
        assert [
            entry.history_user.username if entry.history_user else None
            for entry in exception.history.order_by("pk")
        ] == [None, "operator"]

        self.open(f"/admin/meter_readings/readingexception/{exception.pk}/history/")
        assert "Customer's own read confirmed" in self.find("#change-history").text
        self.screenshot("12-exception-history")

    def wait_for_new_page_or_same(self) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.browser, 15).until(
            lambda browser: browser.execute_script("return document.readyState === 'complete';")
        )
