// Draw every chart whose ECharts option the server put in data-chart, on load and after each
// htmx swap (the live fragments come back with fresh options). No inline scripts anywhere.
(function () {
  "use strict";

  function draw(root) {
    if (typeof echarts === "undefined") {
      return;
    }
    root.querySelectorAll("[data-chart]").forEach(function (element) {
      var option;
      try {
        option = JSON.parse(element.getAttribute("data-chart"));
      } catch (error) {
        return;
      }
      var chart = echarts.getInstanceByDom(element) || echarts.init(element, null, { renderer: "svg" });
      chart.setOption(option, true);
      element.setAttribute("data-drawn", "true");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    draw(document);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    draw(event.target);
  });
  window.addEventListener("resize", function () {
    document.querySelectorAll("[data-drawn]").forEach(function (element) {
      var chart = echarts.getInstanceByDom(element);
      if (chart) {
        chart.resize();
      }
    });
  });
})();
