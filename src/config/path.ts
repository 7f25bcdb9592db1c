/**
 * Which config.yml a command reads when none is named on its command line: $REGISTRY_CONFIGURATION_PATH (as in
 * Distribution), else the first file that exists among the colon-separated $WHARF_CONFIG_PATHS, else none (the
 * embedded default). WHARF_CONFIG_PATHS is unset outside the container image; the image sets it to registry:2's
 * and Distribution v3's paths followed by its own default, so `podman exec reg wharf config check` and the health
 * check read the same file as the server.
 */
import { statSync } from 'node:fs';

export const CONFIG_PATHS_VARIABLE = 'WHARF_CONFIG_PATHS';

export function resolveConfigPath(arg: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (arg) return arg;
  if (env.REGISTRY_CONFIGURATION_PATH) return env.REGISTRY_CONFIGURATION_PATH;
  for (const p of (env[CONFIG_PATHS_VARIABLE] ?? '').split(':')) {
    if (p === '') continue;
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      /* absent: try the next one */
    }
  }
  return undefined;
}
