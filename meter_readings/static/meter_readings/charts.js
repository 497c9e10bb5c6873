// Draws the console's charts with Chart.js (served from this site's static files).
"use strict";

function readJson(id) {
  const element = document.getElementById(id);
  return element ? JSON.parse(element.textContent) : null;
}

function drawReadingsPerDay() {
  const canvas = document.getElementById("readings-per-day");
  const rows = readJson("readings-per-day-data");
  if (!canvas || !rows) return;
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: rows.map((row) => row.day),
      datasets: [{ label: "readings imported", data: rows.map((row) => row.readings), backgroundColor: "#417690" }],
    },
    options: { animation: false, plugins: { legend: { display: false } } },
  });
}

function drawRegister(canvas) {
  const points = readJson(canvas.dataset.points);
  if (!points) return;
  const colour = (point) =>
    point.exceptions && point.exceptions.length ? "#ba2121" : point.superseded ? "#999999" : point.suspect ? "#ba2121" : "#417690";
  const style = (point) => (point.exceptions && point.exceptions.length ? "triangle" : "circle");
  new Chart(canvas, {
    data: {
      labels: points.map((point) => point.at),
      datasets: [
        {
          // Current readings joined in time order; a superseded value is not part of
          // the line, since the meter never went through it.
          type: "line", label: "register reading", yAxisID: "reading", spanGaps: true,
          data: points.map((point) => (point.superseded ? null : point.value)), borderColor: "#417690",
          pointBackgroundColor: points.map(colour), pointBorderColor: points.map(colour),
          pointStyle: points.map(style), pointRadius: points.map((point) => (point.exceptions && point.exceptions.length ? 7 : 4)),
        },
        {
          type: "line", label: "superseded value", yAxisID: "reading", showLine: false,
          data: points.map((point) => (point.superseded ? point.value : null)),
          pointBackgroundColor: "#999999", pointBorderColor: "#999999", pointRadius: 5, pointStyle: "crossRot",
        },
        {
          type: "bar", label: "advance per day", yAxisID: "consumption",
          data: points.map((point) => point.per_day), backgroundColor: "rgba(121, 174, 200, 0.6)",
        },
      ],
    },
    options: {
      animation: false,
      plugins: {
        tooltip: {
          callbacks: {
            // An exception's rules under the reading it was raised on.
            afterLabel: (context) => (points[context.dataIndex].exceptions || []).join("\n"),
          },
        },
      },
      scales: {
        reading: { type: "linear", position: "left" },
        consumption: { type: "linear", position: "right", grid: { drawOnChartArea: false } },
      },
    },
  });
}

document.addEventListener("DOMContentLoaded", () => {
  if (typeof Chart === "undefined") return;
  drawReadingsPerDay();
  document.querySelectorAll("canvas.register-chart").forEach(drawRegister);
});
