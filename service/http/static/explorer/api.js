// Calls to this service's public API, with the API key of this tab when there is one.
// Every failure becomes an ApiError whose message a person can read.

const KEY_ITEM = "reviews-api-key";

export class ApiError extends Error {
  constructor(status, message, problem = {}, retryAfter = null) {
    super(message);
    this.status = status; // 0: the service could not be reached
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_ITEM, key);
  else sessionStorage.removeItem(KEY_ITEM);
}

// A path of this service with its query (`params`: name -> value; empty values left out).
export function apiPath(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(name, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

// The path of one entity's route: the id percent-encoded as one path segment.
export function entityPath(kind, id, tail) {
  return `/v1/${kind}s/${encodeURIComponent(id)}/${tail}`;
}

export async function getJson(path) {
  // Only this service's own relative URLs (a `next` link is one): never another origin.
  if (!path.startsWith("/v1/")) throw new ApiError(0, `refused to call ${path}`);
  const headers = { Accept: "application/json" };
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  let response;
  try {
    response = await fetch(path, { headers, credentials: "omit" });
  } catch (error) {
    throw new ApiError(0, `The service could not be reached (${error.message}).`);
  }
  if (response.ok) return response.json();
  let problem = {};
  try {
    problem = await response.json();
  } catch {
    // not problem+json: a proxy's page, say; the status says enough
  }
  throw new ApiError(
    response.status,
    describe(response.status, problem, response.headers.get("Retry-After")),
    problem,
    response.headers.get("Retry-After"),
  );
}

function describe(status, problem, retryAfter) {
  // The detail as a clause: the sentences here add their own full stop.
  const detail = typeof problem.detail === "string" ? problem.detail.replace(/\.$/, "") : "";
  switch (status) {
    case 400:
      return `The service refused the request: ${detail || "a parameter is not valid"}.`;
    case 401:
      return apiKey()
        ? "The API key was refused: enter a valid key."
        : "This service needs an API key: enter one to see the data.";
    case 404:
      return `Not found: ${detail || "nothing answers this address"}.`;
    case 409:
      return "The data was reloaded since this ranking was read: start again from the first page.";
    case 503: {
      const wait = retryAfter ? ` Try again in ${retryAfter} s.` : " Try again shortly.";
      return `The service is unavailable for now: ${detail || "it is not answering"}.${wait}`;
    }
    default:
      return `The service answered ${status} ${problem.title || ""}${detail ? `: ${detail}` : ""}.`;
  }
}
