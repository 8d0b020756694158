// The JSON API (sessions and lobbies), with its errors as ApiError.

import { lobbyListQuery } from "./lobby-list.js";

/** An HTTP API failure, carrying the protocol's error fields. */
export class ApiError extends Error {
  constructor({ code, message, recovery = "none", retry_after = null, correlation_id = null, status = 0 }) {
    super(message || code);
    this.name = "ApiError";
    this.code = code;
    this.recovery = recovery;
    this.retry_after = retry_after;
    this.correlation_id = correlation_id;
    this.status = status;
  }
}

export async function apiRequest(path, { method = "GET", body, token, fetchImpl = globalThis.fetch } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  if (token) {
    headers.Authorization = `Bearer ${token}`;
  }
  let response;
  try {
    response = await fetchImpl(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new ApiError({ code: "network_unreachable", recovery: "retry", retry_after: 2 });
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.ok && data && typeof data === "object") {
    return data;
  }
  if (data && typeof data === "object" && typeof data.code === "string") {
    throw new ApiError({ ...data, status: response.status });
  }
  throw new ApiError({ code: "unexpected_response", recovery: "retry", retry_after: 2, status: response.status });
}

export const api = {
  createSession: (name) => apiRequest("/api/sessions", { method: "POST", body: name ? { name } : {} }),
  listLobbies: ({ q = "", page = 1 } = {}) => apiRequest(`/api/lobbies${lobbyListQuery({ q, page })}`),
  createLobby: (token, fields) => apiRequest("/api/lobbies", { method: "POST", body: fields, token }),
  getLobby: (id, token) => apiRequest(`/api/lobbies/${encodeURIComponent(id)}`, { token }),
};
