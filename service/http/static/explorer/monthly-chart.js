// The monthly chart: review count as bars (left axis), average rating as a line on its own
// axis (right, 1 to 5). uPlot (the vendored uPlot.iife.min.js) draws on a canvas; the page's
// table holds the same figures as text.

import * as format from "./format.js";

const HEIGHT = 300;

// Seconds since the epoch of the first day of a "YYYY-MM" month, UTC.
function monthStart(text) {
  const [y, m] = text.split("-").map(Number);
  return Date.UTC(y, m - 1, 1) / 1000;
}

export function chartData(months) {
  return [
    months.map((item) => monthStart(item.month)),
    months.map((item) => item.review_count),
    months.map((item) => item.average_rating),
  ];
}

export class MonthlyChart {
  constructor(container) {
    this.container = container;
    this.plot = null;
    new ResizeObserver(() => this.resize()).observe(container);
  }

  width() {
    return Math.max(280, Math.floor(this.container.clientWidth));
  }

  resize() {
    if (this.plot && this.plot.width !== this.width()) {
      this.plot.setSize({ width: this.width(), height: HEIGHT });
    }
  }

  draw(months) {
    this.clear();
    if (months.length === 0) return;
    const data = chartData(months);
    const bars = window.uPlot.paths.bars({ size: [0.7, 48], align: 0 });
    const options = {
      width: this.width(),
      height: HEIGHT,
      tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: {
        x: {
          time: true,
          // Half a month either side: the first and last bars are whole.
          range: (u, min, max) => [min - 15 * 86400, max + 15 * 86400],
        },
        reviews: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] },
        rating: { range: [1, 5] },
      },
      series: [
        { label: "Month", value: (u, ts) => (ts == null ? "" : format.month(isoMonth(ts))) },
        {
          label: "Reviews",
          scale: "reviews",
          paths: bars,
          points: { show: false },
          fill: "rgba(108, 142, 191, 0.75)",
          stroke: "#4d6f9f",
          value: (u, v) => format.count(v),
        },
        {
          label: "Average rating",
          scale: "rating",
          stroke: "#c2410c",
          width: 2,
          spanGaps: false,
          points: { show: true, size: 5 },
          value: (u, v) => format.average(v),
        },
      ],
      axes: [
        {},
        { scale: "reviews", label: "Reviews", values: (u, ticks) => ticks.map(format.count) },
        {
          scale: "rating",
          side: 1,
          label: "Average rating",
          grid: { show: false },
          values: (u, ticks) => ticks.map((t) => t.toFixed(1)),
        },
      ],
    };
    this.plot = new window.uPlot(options, data, this.container);
  }

  clear() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }
}

function isoMonth(ts) {
  const date = new Date(ts * 1000);
  return `${date.getUTCFullYear()}-${String(date.getUTCMonth() + 1).padStart(2, "0")}`;
}
