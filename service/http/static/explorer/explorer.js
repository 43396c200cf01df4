// The explorer: rankings, an entity's summary, stars and monthly chart, over one period,
// all from the public API. The view lives in the URL (/explore?product=ID&from=...&to=...),
// so a view can be shared as a link. Every value is set as text (textContent, attributes),
// never parsed as HTML: ids come from links and the page may hold an API key.

import { ApiError, apiKey, apiPath, entityPath, getJson, setApiKey } from "./api.js";
import * as format from "./format.js";
import { MonthlyChart } from "./monthly-chart.js";

const RANKING_LIMIT = 10;
const DEFAULTS = { sort: "review_count", order: "desc", min_reviews: "1" };
const KINDS = ["product", "reviewer"];
const KIND_LABEL = { product: "Product", reviewer: "Reviewer" };

const $ = (id) => document.getElementById(id);

// --- State, kept in the URL ----------------------------------------------------------------

function readState() {
  const query = new URLSearchParams(window.location.search);
  const kind = KINDS.find((k) => query.has(k)) || null;
  return {
    kind,
    id: kind ? query.get(kind) : null,
    from: query.get("from") || "",
    to: query.get("to") || "",
    sort: query.get("sort") || DEFAULTS.sort,
    order: query.get("order") || DEFAULTS.order,
    min_reviews: query.get("min_reviews") || DEFAULTS.min_reviews,
  };
}

function stateUrl(s) {
  const query = new URLSearchParams();
  if (s.kind) query.set(s.kind, s.id);
  if (s.from) query.set("from", s.from);
  if (s.to) query.set("to", s.to);
  for (const name of Object.keys(DEFAULTS)) {
    if (s[name] !== DEFAULTS[name]) query.set(name, s[name]);
  }
  const text = query.toString();
  return text ? `/explore?${text}` : "/explore";
}

let state = readState();

function navigate(changes) {
  state = { ...state, ...changes };
  window.history.pushState(null, "", stateUrl(state));
  render();
}

window.addEventListener("popstate", () => {
  state = readState();
  render();
});

// Same-page links: change the view without reloading (a modified click opens a tab as usual).
function followInPage(link, changes) {
  link.addEventListener("click", (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    navigate(changes());
  });
}

// --- Messages and the API key --------------------------------------------------------------

function showMessage(element, error, retry) {
  element.replaceChildren();
  element.append(error instanceof ApiError ? error.message : `Something went wrong: ${error}`);
  if (retry && error instanceof ApiError && (error.status === 0 || error.status >= 500)) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Retry";
    button.addEventListener("click", retry);
    element.append(" ", button);
  }
  element.hidden = false;
  if (error instanceof ApiError && error.status === 401) askForKey(error.message);
}

function hideMessage(element) {
  element.hidden = true;
  element.replaceChildren();
}

function askForKey(reason) {
  const box = $("key-box");
  $("key-reason").textContent = reason;
  if (box.hidden) {
    box.hidden = false;
    $("api-key").focus();
  }
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  setApiKey($("api-key").value.trim());
  $("api-key").value = "";
  $("key-box").hidden = true;
  render();
});

// --- The dataset and the period control ----------------------------------------------------

let dataset = null;

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

// All time; the 12 calendar months ending with the dataset's last review month; each year.
function periodChoices(summary) {
  const choices = [{ value: "all", label: "All time", from: "", to: "" }];
  if (summary && summary.last_review_date && summary.first_review_date) {
    const [year, month] = summary.last_review_date.split("-").map(Number);
    const from = isoDay(new Date(Date.UTC(year, month - 12, 1)));
    const to = isoDay(new Date(Date.UTC(year, month, 0)));
    choices.push({
      value: "last12",
      label: `12 months to ${format.month(summary.last_review_date.slice(0, 7))}`,
      from,
      to,
    });
    const first = Number(summary.first_review_date.slice(0, 4));
    for (let y = year; y >= first; y -= 1) {
      choices.push({ value: `y${y}`, label: String(y), from: `${y}-01-01`, to: `${y}-12-31` });
    }
  }
  choices.push({ value: "custom", label: "Custom range", from: null, to: null });
  return choices;
}

let choices = periodChoices(null);

function fillPeriodChoices() {
  const select = $("quick");
  select.replaceChildren(
    ...choices.map((choice) => {
      const option = document.createElement("option");
      option.value = choice.value;
      option.textContent = choice.label;
      return option;
    }),
  );
}

function syncPeriod() {
  $("from").value = state.from;
  $("to").value = state.to;
  const match = choices.find((c) => c.from === state.from && c.to === state.to);
  $("quick").value = match ? match.value : "custom";
}

$("quick").addEventListener("change", () => {
  const choice = choices.find((c) => c.value === $("quick").value);
  if (choice && choice.from !== null) navigate({ from: choice.from, to: choice.to });
});
for (const id of ["from", "to"]) {
  $(id).addEventListener("input", () => {
    $("quick").value = "custom";
  });
}
$("period").addEventListener("submit", (event) => {
  event.preventDefault();
  navigate({ from: $("from").value, to: $("to").value });
});

async function loadDataset() {
  const line = $("dataset");
  const message = $("dataset-message");
  try {
    dataset = await getJson("/v1/reviews/summary");
    hideMessage(message);
    line.textContent =
      `${format.count(dataset.review_count)} reviews of ${format.count(dataset.product_count)} ` +
      `products by ${format.count(dataset.reviewer_count)} reviewers, ` +
      `${format.dayRange(dataset.first_review_date, dataset.last_review_date)}.`;
    choices = periodChoices(dataset);
  } catch (error) {
    line.textContent = "";
    showMessage(message, error, loadDataset);
  }
  fillPeriodChoices();
  syncPeriod();
}

// --- Look-up -------------------------------------------------------------------------------

$("lookup").addEventListener("submit", (event) => {
  event.preventDefault();
  const id = $("lookup-id").value.trim();
  if (id) navigate({ kind: $("lookup-kind").value, id });
});

// --- Rankings ------------------------------------------------------------------------------

const rankings = Object.fromEntries(
  KINDS.map((kind) => {
    const section = $(`${kind}s-ranking`);
    return [kind, { kind, section, pages: [], page: 0, next: null, generation: 0 }];
  }),
);

function td(text, className) {
  const cell = document.createElement("td");
  cell.textContent = text;
  if (className) cell.className = className;
  return cell;
}

function rankingRow(kind, item, rank) {
  const id = item[`${kind}_id`];
  const row = document.createElement("tr");
  row.dataset.id = id;
  const name = document.createElement("td");
  name.className = "name";
  const link = document.createElement("a");
  link.textContent = id;
  const target = () => ({ kind, id });
  link.href = stateUrl({ ...state, ...target() });
  followInPage(link, target);
  name.append(link);
  if (kind === "reviewer" && item.reviewer_name) {
    const sub = document.createElement("span");
    sub.className = "sub";
    sub.textContent = item.reviewer_name;
    name.append(sub);
  }
  row.append(
    td(String(rank), "num"),
    name,
    td(format.count(item.review_count), "num"),
    td(format.average(item.average_rating), "num"),
    td(format.count(item.verified_review_count), "num"),
    td(format.count(item.helpful_votes), "num"),
    td(format.monthRange(item.first_review_date, item.last_review_date)),
  );
  row.lastChild.title = format.dayRange(item.first_review_date, item.last_review_date);
  return row;
}

async function loadRanking(ranking, path, page) {
  const generation = ++ranking.generation;
  const message = ranking.section.querySelector(".message");
  const body = ranking.section.querySelector("tbody");
  const buttons = ranking.section.querySelectorAll(".pager button");
  for (const button of buttons) button.disabled = true;
  try {
    const answer = await getJson(path);
    if (generation !== ranking.generation) return;
    hideMessage(message);
    ranking.pages[page] = path;
    ranking.pages.length = page + 1;
    ranking.page = page;
    ranking.next = answer.next;
    body.replaceChildren(
      ...answer.items.map((item, n) => rankingRow(ranking.kind, item, page * RANKING_LIMIT + n + 1)),
    );
    if (answer.items.length === 0) {
      const row = document.createElement("tr");
      const cell = td("Nothing in this period with that many reviews.");
      cell.colSpan = 7;
      row.append(cell);
      body.append(row);
    }
    ranking.section.querySelector(".page-number").textContent = `Page ${page + 1}`;
  } catch (error) {
    if (generation !== ranking.generation) return;
    body.replaceChildren();
    ranking.next = null;
    showMessage(message, error, () => loadRanking(ranking, path, page));
  }
  ranking.section.querySelector("[data-page=previous]").disabled = ranking.page === 0;
  ranking.section.querySelector("[data-page=next]").disabled = !ranking.next;
}

function firstRankingPath(kind) {
  return apiPath(`/v1/${kind}s`, {
    from: state.from,
    to: state.to,
    sort: state.sort,
    order: state.order,
    min_reviews: state.min_reviews,
    limit: RANKING_LIMIT,
  });
}

for (const ranking of Object.values(rankings)) {
  ranking.section.querySelector("[data-page=next]").addEventListener("click", () => {
    if (ranking.next) loadRanking(ranking, ranking.next, ranking.page + 1);
  });
  ranking.section.querySelector("[data-page=previous]").addEventListener("click", () => {
    if (ranking.page > 0) loadRanking(ranking, ranking.pages[ranking.page - 1], ranking.page - 1);
  });
}

$("ranking-options").addEventListener("change", () => {
  navigate({ sort: $("sort").value, order: $("order").value, min_reviews: $("min-reviews").value });
});

// --- One product or reviewer ---------------------------------------------------------------

const chart = new MonthlyChart($("monthly-chart"));
let entityGeneration = 0;

// Each field of a summary: its label and how it reads. A field not listed here (a newer
// API's) is still shown, under its own name.
const SUMMARY_FIELDS = {
  product_id: ["Product", (v) => v],
  reviewer_id: ["Reviewer", (v) => v],
  reviewer_name: ["Name", (v) => v ?? format.NONE],
  period: ["Period", format.period],
  review_count: ["Reviews", format.count],
  average_rating: ["Average rating", format.average],
  rating_distribution: [
    "Star ratings",
    (v) => [5, 4, 3, 2, 1].map((star) => `${star}★\u00a0${format.count(v[star])}`).join(" · "),
  ],
  verified_review_count: ["Verified purchases", format.count],
  helpful_votes: ["Helpful votes", format.count],
  distinct_reviewers: ["Different reviewers", format.count],
  distinct_products: ["Different products", format.count],
  first_review_date: ["First review", format.day],
  last_review_date: ["Last review", format.day],
};

function renderSummary(summary) {
  const list = $("summary");
  list.replaceChildren();
  for (const [field, value] of Object.entries(summary)) {
    const [label, show] = SUMMARY_FIELDS[field] || [
      field,
      (v) => (typeof v === "object" && v !== null ? JSON.stringify(v) : String(v ?? format.NONE)),
    ];
    const wrapper = document.createElement("div");
    wrapper.className = "summary-field";
    wrapper.dataset.field = field;
    wrapper.dataset.value = JSON.stringify(value);
    const term = document.createElement("dt");
    term.textContent = label;
    const description = document.createElement("dd");
    description.textContent = show(value);
    wrapper.append(term, description);
    list.append(wrapper);
  }
}

function renderStars(distribution) {
  const total = Object.values(distribution).reduce((a, b) => a + b, 0);
  const most = Math.max(1, ...Object.values(distribution));
  $("stars")
    .querySelector("tbody")
    .replaceChildren(
      ...[5, 4, 3, 2, 1].map((star) => {
        const reviews = distribution[star];
        const row = document.createElement("tr");
        row.dataset.star = String(star);
        const shareCell = document.createElement("td");
        shareCell.className = "share";
        const bar = document.createElement("span");
        bar.className = "bar";
        bar.style.width = `${(100 * reviews) / most}%`;
        shareCell.append(bar);
        row.append(
          td(`${star}★`),
          shareCell,
          td(format.count(reviews), "num"),
          td(format.share(reviews, total), "num"),
        );
        return row;
      }),
    );
}

function renderMonthlyTable(months) {
  const body = $("monthly-table").querySelector("tbody");
  body.replaceChildren(
    ...months.map((item) => {
      const row = document.createElement("tr");
      row.dataset.month = item.month;
      const name = document.createElement("th");
      name.scope = "row";
      name.textContent = format.month(item.month);
      row.append(
        name,
        td(format.count(item.review_count), "num"),
        td(format.average(item.average_rating), "num"),
        td(format.count(item.verified_review_count), "num"),
        td(format.count(item.helpful_votes), "num"),
        ...[1, 2, 3, 4, 5].map((star) => td(format.count(item.rating_distribution[star]), "num")),
      );
      return row;
    }),
  );
  if (months.length === 0) {
    const row = document.createElement("tr");
    const cell = td("No reviews in this period.");
    cell.colSpan = 10;
    row.append(cell);
    body.append(row);
  }
}

async function renderEntity() {
  const generation = ++entityGeneration;
  const { kind, id } = state;
  const message = $("entity-message");
  const body = $("entity-body");
  $("entity-title").textContent = `${KIND_LABEL[kind]} ${id}`;
  document.title = `${KIND_LABEL[kind]} ${id} · reviews-api explorer`;
  $("back").href = stateUrl({ ...state, kind: null, id: null });
  hideMessage(message);
  const range = { from: state.from, to: state.to };
  try {
    const [summary, monthly] = await Promise.all([
      getJson(apiPath(entityPath(kind, id, "reviews/summary"), range)),
      getJson(apiPath(entityPath(kind, id, "reviews/monthly"), range)),
    ]);
    if (generation !== entityGeneration) return;
    body.hidden = false;
    renderSummary(summary);
    renderStars(summary.rating_distribution);
    renderMonthlyTable(monthly.months);
    chart.draw(monthly.months);
  } catch (error) {
    if (generation !== entityGeneration) return;
    body.hidden = true;
    chart.clear();
    showMessage(message, error, () => render());
  }
}

followInPage($("back"), () => ({ kind: null, id: null }));

// --- Rendering the view the URL names ------------------------------------------------------

let renderGeneration = 0;
let firstView = true;

async function render() {
  const generation = ++renderGeneration;
  document.documentElement.dataset.state = "loading";
  syncPeriod();
  $("sort").value = state.sort;
  $("order").value = state.order;
  $("min-reviews").value = state.min_reviews;
  if (state.kind) {
    $("lookup-kind").value = state.kind;
    $("lookup-id").value = state.id;
  }
  $("rankings-view").hidden = Boolean(state.kind);
  $("entity-view").hidden = !state.kind;
  const tasks = [];
  if (state.kind) {
    tasks.push(renderEntity());
  } else {
    document.title = "reviews-api explorer";
    for (const ranking of Object.values(rankings)) {
      tasks.push(loadRanking(ranking, firstRankingPath(ranking.kind), 0));
    }
  }
  if (dataset === null) tasks.push(loadDataset()); // at first, and until it answers
  await Promise.allSettled(tasks);
  if (generation !== renderGeneration) return;
  document.documentElement.dataset.state = "ready";
  if (firstView) {
    firstView = false;
    performance.mark("explorer-ready"); // the first view, drawn: docs/benchmarks.md
  }
}

// For the tests and the curious: the chart's data as the library holds it.
window.explorer = { chart, apiKeySet: () => Boolean(apiKey()) };

render();
