/**
 * The signed upload state carried in `Location` (`_state`), so that any wharf process sharing `http.secret`
 * can continue an upload. Tampering is detected by HMAC-SHA256.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface UploadState {
  name: string;
  uuid: string;
  offset: number;
  startedAt: string;
}

export class UploadStateCodec {
  constructor(private readonly secret: string) {}

  private mac(payload: string): Buffer {
    return createHmac('sha256', this.secret).update(payload).digest();
  }

  pack(state: UploadState): string {
    const payload = Buffer.from(JSON.stringify(state)).toString('base64url');
    return `${payload}.${this.mac(payload).toString('base64url')}`;
  }

  /** The state, or null when malformed or not signed with our secret. */
  unpack(token: string): UploadState | null {
    const dot = token.indexOf('.');
    if (dot <= 0) return null;
    const payload = token.slice(0, dot);
    const sig = Buffer.from(token.slice(dot + 1), 'base64url');
    const want = this.mac(payload);
    if (sig.length !== want.length || !timingSafeEqual(sig, want)) return null;
    try {
      const s = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as UploadState;
      if (typeof s.name !== 'string' || typeof s.uuid !== 'string' || !Number.isSafeInteger(s.offset) || typeof s.startedAt !== 'string') return null;
      return s;
    } catch {
      return null;
    }
  }
}
