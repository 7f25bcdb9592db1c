/** Listening addresses as Distribution writes them: `:5000`, `host:port`, `[::1]:5000`. */

/** Splits `http.addr` (or any such address) into host and port; throws naming the value when it is not one. */
export function parseAddr(addr: string): { host?: string; port: number } {
  const i = addr.lastIndexOf(':');
  const host = i > 0 ? addr.slice(0, i).replace(/^\[|\]$/g, '') : undefined;
  const port = Number(i >= 0 ? addr.slice(i + 1) : addr);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`http.addr: invalid address ${JSON.stringify(addr)}`);
  return { host, port };
}

/** Whether `addr` names a loopback host (credentials sent there in the clear stay on the machine). */
export function isLoopback(addr: string): boolean {
  const { host } = parseAddr(addr);
  return host === 'localhost' || host === '::1' || (host?.startsWith('127.') ?? false);
}
