/**
 * The signed upload state carried in `Location` (`_state`), so that any process sharing `http.secret` can
 * continue an upload: another wharf, or CNCF Distribution on the same storage (a rolling migration, or a
 * restart onto the other server). The token is Distribution's own (`registry/handlers/hmac.go`):
 * base64url-with-padding of HMAC-SHA256(secret, json) followed by the JSON
 * `{"Name","UUID","Offset","StartedAt"}`. Tampering is detected by the HMAC.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface UploadState {
  name: string;
  uuid: string;
  offset: number;
  /** RFC 3339 (Go's time.Time in JSON). */
  startedAt: string;
}

const MAC_BYTES = 32;
const BASE64URL_RE = /^[A-Za-z0-9_-]+={0,2}$/;

export class UploadStateCodec {
  constructor(private readonly secret: string) {}

  private mac(message: Buffer): Buffer {
    return createHmac('sha256', this.secret).update(message).digest();
  }

  pack(state: UploadState): string {
    const message = Buffer.from(
      JSON.stringify({ Name: state.name, UUID: state.uuid, Offset: state.offset, StartedAt: state.startedAt }),
    );
    // Go's base64.URLEncoding keeps the `=` padding; Distribution refuses a token without it.
    return Buffer.concat([this.mac(message), message])
      .toString('base64url')
      .padEnd(Math.ceil((MAC_BYTES + message.length) / 3) * 4, '=');
  }

  /** The state, or null when malformed or not signed with our secret. */
  unpack(token: string): UploadState | null {
    if (!BASE64URL_RE.test(token)) return null;
    const bytes = Buffer.from(token, 'base64url');
    if (bytes.length <= MAC_BYTES) return null;
    const sig = bytes.subarray(0, MAC_BYTES);
    const message = bytes.subarray(MAC_BYTES);
    if (!timingSafeEqual(sig, this.mac(message))) return null;
    try {
      const s = JSON.parse(message.toString('utf8')) as Record<string, unknown>;
      if (typeof s !== 'object' || s === null) return null;
      const { Name: name, UUID: uuid, Offset: offset, StartedAt: startedAt } = s;
      if (
        typeof name !== 'string' ||
        typeof uuid !== 'string' ||
        !Number.isSafeInteger(offset) ||
        typeof startedAt !== 'string'
      )
        return null;
      return { name, uuid, offset: offset as number, startedAt };
    } catch {
      return null;
    }
  }
}
