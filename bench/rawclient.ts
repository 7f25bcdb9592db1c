/**
 * `node dist/bench/rawclient.js <url> <bytes> [range] [ca.pem]`: the bench client's blob GET (node:http or
 * node:https, counting bytes) in a process of its own, as curl runs: one untimed GET first, so that V8 has compiled
 * the client's read path, then the timed one; prints its MB/s.
 *
 * Run inside the bench's own process, the same client swung by up to 2x from one GET to the next with that
 * process's history (its heap, its compiled code), more than any difference between the servers; a fresh, warmed
 * process per measurement gives both servers the same client.
 */
import { readFileSync } from 'node:fs';
import { keepAliveAgent } from './http.js';
import { rawGet } from './pulls.js';

async function main(): Promise<void> {
  const [url, bytes, range, ca] = process.argv.slice(2);
  const agent = keepAliveAgent(1, ca ? readFileSync(ca) : undefined);
  try {
    await rawGet(agent, url, Number(bytes), range || undefined);
    process.stdout.write(`${await rawGet(agent, url, Number(bytes), range || undefined)}\n`);
  } finally {
    agent.destroy();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 1;
});
