// The error every call of the library rejects with: `code` is the server's machine code
// (docs/api.md: bad_request, unauthorized, forbidden, not_found, conflict, too_large,
// rate_limited, invalid_signature, unavailable, ...) or one of the library's own:
// "disconnected" (the socket closed before the answer), "timeout", "network", "signed_out".
export class ParleyError extends Error {
  constructor(code, message, { status = 0, details } = {}) {
    super(message || code);
    this.name = "ParleyError";
    this.code = code;
    this.status = status;
    if (details !== undefined) this.details = details;
  }
}
