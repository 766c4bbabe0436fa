/*
 * Draws the Activation page's charts with the vendored Chart.js. The figures themselves are in the
 * page as tables (the charts' accessible text and the no-JavaScript view); this script only reads
 * the JSON the server embedded next to each chart and never fetches anything.
 */
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") { return; }
  var GREEN = "#0b6e4f", GREEN_BAND = "rgba(11, 110, 79, 0.18)", GREY = "#7b8794", BLUE = "#0a558c";

  function percent(value) { return (value * 100).toFixed(0) + " %"; }

  function kmChart(canvas, data) {
    var points = data.points.map(function (p) { return {x: p.day, y: p.rate}; });
    var low = data.points.map(function (p) { return {x: p.day, y: p.low}; });
    var high = data.points.map(function (p) { return {x: p.day, y: p.high}; });
    return new window.Chart(canvas, {
      type: "line",
      data: {datasets: [
        {label: data.labels.high, data: high, stepped: "before", borderWidth: 0, pointRadius: 0, fill: "+1",
         backgroundColor: GREEN_BAND},
        {label: data.labels.low, data: low, stepped: "before", borderWidth: 0, pointRadius: 0, fill: false},
        {label: data.labels.rate, data: points, stepped: "before", borderColor: GREEN, pointRadius: 0,
         borderWidth: 2, fill: false}
      ]},
      options: {
        animation: false, parsing: false, responsive: true, maintainAspectRatio: false,
        scales: {
          x: {type: "linear", min: 0, max: data.window_days, title: {display: true, text: data.labels.x}},
          y: {min: 0, max: 1, ticks: {callback: percent}, title: {display: true, text: data.labels.y}}
        },
        plugins: {legend: {labels: {filter: function (item) { return item.datasetIndex === 2; }}},
                  tooltip: {callbacks: {label: function (c) { return c.dataset.label + ": " + percent(c.parsed.y); }}}}
      }
    });
  }

  function funnelChart(canvas, data) {
    return new window.Chart(canvas, {
      type: "bar",
      data: {labels: data.stages, datasets: data.arms.map(function (arm, index) {
        return {label: arm.label, data: arm.counts, backgroundColor: index === 0 ? BLUE : GREY};
      })},
      options: {indexAxis: "y", animation: false, responsive: true, maintainAspectRatio: false,
                scales: {x: {beginAtZero: true, ticks: {precision: 0}}}}
    });
  }

  var DRAW = {km: kmChart, funnel: funnelChart};
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var source = document.getElementById(canvas.getAttribute("data-source"));
    var draw = DRAW[canvas.getAttribute("data-chart")];
    if (source && draw) { draw(canvas, JSON.parse(source.textContent)); }
  });
}());
