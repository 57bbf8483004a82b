// omnicx console: the little script the server-rendered pages need.
// - charts: every .chart holds its Apache ECharts option as JSON; drawn on load and after
//   htmx swaps; a data point with a `url` opens it when clicked (htmx into
//   data-chart-target when the chart names one, else as a page).
// - selects with data-autosubmit submit their form when changed (the language picker).
// - forms with data-confirm ask before submitting.
(function () {
  "use strict";

  function drawCharts(root) {
    if (typeof echarts === "undefined") return;
    root.querySelectorAll(".chart").forEach(function (element) {
      if (element.dataset.drawn) return;
      var source = element.querySelector("script.chart-option");
      if (!source) return;
      var option = localiseNumbers(JSON.parse(source.textContent));
      var chart = echarts.init(element, null, { renderer: "svg" });
      chart.setOption(option);
      element.dataset.drawn = "1";
      chart.on("click", function (event) {
        var url = event.data && event.data.url;
        if (!url) return;
        var target = element.dataset.chartTarget;
        if (target && window.htmx) {
          htmx.ajax("GET", url, { target: target, swap: "innerHTML" });
        } else {
          window.location.assign(url);
        }
      });
    });
  }

  // Numbers on value axes and in tooltips as the page's language writes them (grouping,
  // decimal sign, digits: ۱۲٬۳۴۵ in Persian), as the server formats the tables.
  function localiseNumbers(option) {
    var format = new Intl.NumberFormat(document.documentElement.lang || "en", {
      maximumFractionDigits: 2,
    });
    function number(value) {
      return typeof value === "number" ? format.format(value) : value;
    }
    ["xAxis", "yAxis"].forEach(function (name) {
      [].concat(option[name] || []).forEach(function (axis) {
        if (axis.type !== "value") return;
        axis.axisLabel = axis.axisLabel || {};
        var suffix = axis.axisLabel.formatter === "{value}%" ? "%" : "";
        if (axis.axisLabel.formatter && !suffix) return;
        axis.axisLabel.formatter = function (value) { return number(value) + suffix; };
      });
    });
    if (option.tooltip && !option.tooltip.valueFormatter) {
      option.tooltip.valueFormatter = number;
    }
    return option;
  }

  function resizeCharts() {
    if (typeof echarts === "undefined") return;
    document.querySelectorAll(".chart[data-drawn]").forEach(function (element) {
      var chart = echarts.getInstanceByDom(element);
      if (chart) chart.resize();
    });
  }

  function wire(root) {
    drawCharts(root);
    root.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      if (select.dataset.wired) return;
      select.dataset.wired = "1";
      select.addEventListener("change", function () { select.form.requestSubmit(); });
    });
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      if (form.dataset.wired) return;
      form.dataset.wired = "1";
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { wire(document); });
  document.addEventListener("htmx:afterSettle", function (event) { wire(event.target); });
  window.addEventListener("resize", resizeCharts);
})();
