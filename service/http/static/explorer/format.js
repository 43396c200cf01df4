// Numbers and dates for people: thousands separated, averages to two decimals, dates as
// "1 Jan 2016" (UTC calendar days, as the API counts them).

const integers = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 0 });
const averages = new Intl.NumberFormat("en-GB", {
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
});
const percents = new Intl.NumberFormat("en-GB", { style: "percent", maximumFractionDigits: 1 });
const days = new Intl.DateTimeFormat("en-GB", {
  day: "numeric",
  month: "short",
  year: "numeric",
  timeZone: "UTC",
});
const months = new Intl.DateTimeFormat("en-GB", {
  month: "short",
  year: "numeric",
  timeZone: "UTC",
});

export const NONE = "–";

export function count(value) {
  return value === null || value === undefined ? NONE : integers.format(value);
}

export function average(value) {
  return value === null || value === undefined ? NONE : averages.format(value);
}

export function share(part, whole) {
  return whole ? percents.format(part / whole) : NONE;
}

// "2016-01-31" -> "31 Jan 2016"
export function day(text) {
  if (!text) return NONE;
  const [y, m, d] = text.split("-").map(Number);
  return days.format(new Date(Date.UTC(y, m - 1, d)));
}

// "2016-01" -> "Jan 2016"
export function month(text) {
  const [y, m] = text.split("-").map(Number);
  return months.format(new Date(Date.UTC(y, m - 1, 1)));
}

export function dayRange(first, last) {
  if (!first && !last) return NONE;
  return first === last ? day(first) : `${day(first)} – ${day(last)}`;
}

// Days to months, for a narrow column: "Jul 2015 – Sep 2018".
export function monthRange(first, last) {
  if (!first || !last) return NONE;
  const [a, b] = [month(first.slice(0, 7)), month(last.slice(0, 7))];
  return a === b ? a : `${a} – ${b}`;
}

// A period as asked: open ends said in words.
export function period(value) {
  if (!value || (!value.from && !value.to)) return "all time";
  if (!value.from) return `up to ${day(value.to)}`;
  if (!value.to) return `from ${day(value.from)}`;
  return `${day(value.from)} – ${day(value.to)}`;
}
