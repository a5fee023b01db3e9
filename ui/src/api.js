// The JSON API client. Loopback browsers need no token; elsewhere the API
// answers 401 and the UI asks for a bearer token, kept in localStorage.
const TOKEN_KEY = 'tracker.token';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.problems = (body && body.problems) || [];
  }
}

function headers(extra) {
  const h = { Accept: 'application/json', ...extra };
  const tok = localStorage.getItem(TOKEN_KEY);
  if (tok) h.Authorization = 'Bearer ' + tok;
  return h;
}

async function request(method, path, body) {
  const init = { method, headers: headers(body !== undefined ? { 'Content-Type': 'application/json' } : {}) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch('/api/v1' + path, init);
  const type = res.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await res.json().catch(() => null) : await res.text();
  if (res.status === 401 && method === 'GET') {
    const tok = window.prompt('The tracker API needs a bearer token outside loopback. Token:');
    if (tok) {
      localStorage.setItem(TOKEN_KEY, tok.trim());
      return request(method, path, body);
    }
  }
  if (!res.ok) throw new ApiError(res.status, typeof data === 'object' ? data : { error: data });
  return data;
}

/** qs builds a query string from the non-empty values of params. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '' && v !== false) u.set(k, String(v));
  }
  const s = u.toString();
  return s ? '?' + s : '';
}

export const api = {
  get: (path, params) => request('GET', path + qs(params)),
  post: (path, body) => request('POST', path, body ?? {}),
  xml: async (path) => {
    const res = await fetch('/api/v1' + path, { headers: headers({ Accept: 'application/xml' }) });
    if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
    return res.text();
  },
};
