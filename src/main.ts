#!/usr/bin/env -S node --initial-old-space-size=64
/**
 * The `wharf` command: serve, config check (and the other subcommands registered below).
 *
 * The V8 flag on the first line (also in `npm start`): V8 otherwise schedules a full collection each time the old
 * generation grows ~10 MB past a ~20 MB start, and the network buffers a pull-through download keeps for a few
 * milliseconds are old by then: 26 full collections per cold 256 MiB pull, a quarter of the event loop's time.
 * With a 64 MB start: idle RSS unchanged, cold pulls ~1.3x (docs/mirror.md).
 */
import { Command } from 'commander';
import { HELP as HTPASSWD_HELP } from './cli/htpasswdargs.js';
import { ConfigError, loadConfig } from './config/load.js';
import { resolveConfigPath } from './config/path.js';
import { createLogger } from './log.js';
import { buildInfo, versionText } from './version.js';

const build = buildInfo();

const program = new Command();
program
  .name('wharf')
  // Program options only before the subcommand, so `wharf htpasswd -v` is htpasswd's -v, not --version.
  .enablePositionalOptions()
  .description('A private OCI container image registry, a drop-in replacement for CNCF Distribution (registry:2).')
  .version(versionText(build), '-v, --version', 'print the version (and the git commit it was built from)')
  .addHelpText(
    'after',
    `
Examples:
  wharf serve                          serve with the embedded default config (filesystem under ./data, port 5000)
  wharf serve /etc/docker/registry/config.yml
  REGISTRY_HTTP_ADDR=:5001 wharf serve config.yml

The config file is Distribution's config.yml; REGISTRY_* environment variables override its keys
(e.g. REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY). Without an argument, REGISTRY_CONFIGURATION_PATH is used, else
the first existing file of the colon-separated WHARF_CONFIG_PATHS (the container image sets it), else the default.`,
  );

program
  .command('serve')
  .description('run the registry HTTP server')
  .argument('[config]', 'path of config.yml (default: $REGISTRY_CONFIGURATION_PATH, else the embedded default)')
  .action(async (configPath?: string) => {
    const path = resolveConfigPath(configPath);
    let loaded;
    try {
      loaded = loadConfig({ path });
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`wharf: ${err.message}\n`);
        process.exit(1);
      }
      throw err;
    }
    const { config, warnings } = loaded;
    const log = createLogger({ level: config.log.level, formatter: config.log.formatter, fields: config.log.fields });
    for (const w of warnings) log.warn(`config: ${w}`);
    // Each command loads only its own modules: the server does not carry the other commands' code.
    const { startRegistry } = await import('./app.js');
    const running = await startRegistry(config, log).catch((err: Error) => {
      log.fatal(`cannot start: ${err.message}`);
      process.exit(1);
    });
    log.info(
      { version: build.version, commit: build.commit ?? undefined, config: loaded.source },
      `listening on ${running.address}`,
    );
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info(`${signal} received: draining for up to ${config.http.draintimeout} ms`);
      running.shutdown(config.http.draintimeout).then(
        () => process.exit(0),
        (err: Error) => {
          log.fatal({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      // What can change at run time: the log level, access rules, policies and notifications (from the file), htpasswd, token keys, certificates.
      let next: ReturnType<typeof loadConfig>['config'] | undefined;
      try {
        next = loadConfig({ path }).config;
        if (next.log.level !== log.level) {
          // Announced under whichever of the two levels shows info lines (error -> debug is told after the change).
          const change = `SIGHUP: log.level ${log.level} -> ${next.log.level}`;
          const shown = log.isLevelEnabled('info');
          if (shown) log.info(change);
          log.level = next.log.level;
          if (!shown) log.info(change);
        }
      } catch (err) {
        log.error(`SIGHUP: the configuration is invalid, keeping the running one: ${(err as Error).message}`);
      }
      running
        .reload(next)
        .then((what) =>
          log.info(
            `SIGHUP: reloaded ${what.length > 0 ? what.join(', ') : 'nothing else (no auth files or certificates configured)'}`,
          ),
        )
        .catch((err: Error) => log.error(`SIGHUP: reload failed, keeping the previous state: ${err.message}`));
    });
  });

const configCmd = program.command('config').description('inspect configuration');
configCmd
  .command('check')
  .description(
    'print the effective configuration (secrets masked) and every problem with its key path; exit 1 on errors',
  )
  .argument('[config]', 'path of config.yml (default: $REGISTRY_CONFIGURATION_PATH, else the embedded default)')
  .action(async (configPath?: string) => {
    const { configCheck } = await import('./cli/configcheck.js');
    process.exitCode = configCheck(resolveConfigPath(configPath), process.stdout, process.stderr);
  });

program
  .command('garbage-collect')
  .description('remove blobs (and with -m, untagged manifests) no manifest references; safe while the registry serves')
  .argument('[config]', 'path of config.yml (default: $REGISTRY_CONFIGURATION_PATH)')
  .option('-d, --dry-run', 'report what would be removed, change nothing')
  .option(
    '-m, --delete-untagged',
    'also remove manifests no tag reaches (index children and referrers of kept manifests stay)',
  )
  .option('--grace <duration>', 'never collect content younger than this (default: gc.graceperiod, 1h)')
  .option(
    '--policies',
    'first apply the policies (untag and delete what they do not keep), as gc.schedule does in the server',
  )
  .action(
    async (
      configPath: string | undefined,
      opts: { dryRun?: boolean; deleteUntagged?: boolean; grace?: string; policies?: boolean },
    ) => {
      const { garbageCollectCommand } = await import('./cli/gc.js');
      process.exitCode = await garbageCollectCommand(resolveConfigPath(configPath), opts, {
        out: process.stdout,
        err: process.stderr,
      });
    },
  );

program
  .command('policies')
  .description('lifecycle rules (the policies section)')
  .command('plan')
  .description('print what the policies would untag and delete now, and the bytes that frees; changes nothing')
  .argument('[config]', 'path of config.yml (default: $REGISTRY_CONFIGURATION_PATH)')
  .option('--json', 'print the plan as JSON')
  .action(async (configPath: string | undefined, opts: { json?: boolean }) => {
    const { policiesPlanCommand } = await import('./cli/policies.js');
    process.exitCode = await policiesPlanCommand(resolveConfigPath(configPath), opts, {
      out: process.stdout,
      err: process.stderr,
    });
  });

program
  .command('htpasswd')
  .description("create and edit htpasswd files (bcrypt), with the flags of Apache's htpasswd")
  .usage('[-cnbiBDv] [-C cost] [passwordfile] username [password]')
  .helpOption(false)
  .passThroughOptions()
  .allowUnknownOption()
  .allowExcessArguments()
  .argument('[args...]')
  .configureHelp({ formatHelp: () => HTPASSWD_HELP })
  .action(async () => {
    // Apache's combined flags (-Bbc) are parsed by runHtpasswd from the raw argv: commander would eat a leading `--`.
    const argv = process.argv.slice(process.argv.indexOf('htpasswd', 2) + 1);
    const { runHtpasswd, terminalPrompt } = await import('./cli/htpasswd.js');
    process.exitCode = await runHtpasswd(argv, {
      stdin: process.stdin,
      stdout: process.stdout,
      stderr: process.stderr,
      prompt: terminalPrompt(process.stdin, process.stderr),
    });
  });

program
  .command('token-server')
  .description(
    'run only the built-in Docker token server (tokenserver.path on tokenserver.addr), for registries elsewhere',
  )
  .argument('[config]', 'path of config.yml (default: $REGISTRY_CONFIGURATION_PATH)')
  .action(async (configPath?: string) => {
    const { tokenServerCommand } = await import('./cli/tokenserver.js');
    const running = await tokenServerCommand(resolveConfigPath(configPath), process.stderr);
    if (running === 1) process.exit(1);
    const stop = () => void running.close().then(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on(
      'SIGHUP',
      () =>
        void running
          .reload()
          .catch((err: Error) => process.stderr.write(`wharf token-server: SIGHUP: reload failed: ${err.message}\n`)),
    );
  });

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`wharf: ${err.message}\n`);
  process.exit(1);
});
