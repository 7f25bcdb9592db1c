/**
 * The one table of OCI / Distribution error codes and their serializer.
 * Only the codes of the distribution-spec and Distribution's errcode package exist here;
 * messages and HTTP statuses are Distribution's, byte for byte.
 */

export const ERROR_CODES = {
  UNKNOWN: { status: 500, message: 'unknown error' },
  UNSUPPORTED: { status: 405, message: 'The operation is unsupported.' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  TAG_INVALID: { status: 400, message: 'manifest tag did not match URI' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNVERIFIED: { status: 400, message: 'manifest failed signature verification' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: 'blob unknown to registry' },
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 404, message: 'blob upload invalid' },
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested' },
  RANGE_INVALID: { status: 416, message: 'invalid content range' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** No detail at all: the `detail` member is omitted from the body (Go's omitempty). */
const NO_DETAIL = Symbol('no detail');

/** One OCI error. `detail` is serialised as given; `null` is written as `null`. */
export class OciError extends Error {
  readonly code: ErrorCode;
  readonly detail: unknown;
  readonly status: number;
  /** Extra response headers (e.g. Retry-After, WWW-Authenticate). */
  readonly headers: Record<string, string>;

  /**
   * `status` replaces the code's status only for refusals of the HTTP layer itself (malformed framing, a request
   * line without version, a foreign origin), answered before any registry route: the spec names no code for them,
   * and their body still has the registry's shape.
   */
  constructor(
    code: ErrorCode,
    detail: unknown = NO_DETAIL,
    opts: { message?: string; headers?: Record<string, string>; status?: number } = {},
  ) {
    super(opts.message ?? ERROR_CODES[code].message);
    this.code = code;
    this.detail = detail;
    this.status = opts.status ?? ERROR_CODES[code].status;
    this.headers = opts.headers ?? {};
  }

  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { code: this.code, message: this.message };
    if (this.detail !== NO_DETAIL) out.detail = this.detail;
    return out;
  }
}

export function ociError(code: ErrorCode, detail?: unknown, message?: string): OciError {
  return new OciError(code, detail === undefined ? NO_DETAIL : detail, { message });
}

/** The response body for one or more errors; ends with a newline as Go's json.Encoder writes it. */
export function errorBody(errors: OciError[]): string {
  return JSON.stringify({ errors: errors.map((e) => e.toJSON()) }) + '\n';
}

/** Maps anything thrown to an OciError; unknown failures become UNKNOWN without leaking internals. */
export function toOciError(err: unknown): OciError {
  if (err instanceof OciError) return err;
  return ociError('UNKNOWN');
}
