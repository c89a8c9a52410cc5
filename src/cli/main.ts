#!/usr/bin/env node
// first: stop signals are held from the first instant, before the modules below load
import './stop-signals.js'
import { Command, Option } from 'commander'
import { FAILURE_CLASSES } from '../domain/failures.js'
import { TRANSFER_STATES } from '../domain/states.js'
import { jsonRequested, reportError } from './exit.js'
import { restoreDefaultStopSignals } from './stop-signals.js'
import { packageVersion } from './version.js'

// command modules load on use: a post-job's `aso wait` should not pay for the server, demo and FTS3 double
const program = new Command()
program
  .name('aso')
  .description('ASO: asynchronous stage-out of grid job outputs to their final destination')
  .version(packageVersion())
  .option(
    '--config <file>',
    'configuration file (default: $ASO_CONFIG, else ./aso.yaml, else embedded defaults)',
  )
  .option(
    '--db <url>',
    'database: sqlite:PATH, a file path, or postgres://… (overrides database: in aso.yaml)',
  )
  .option('--debug', 'print stack traces and debug logs')
  .option(
    '--server <url>',
    'work through this ASO server’s API instead of the local database (default: $ASO_SERVER)',
  )
  .option(
    '--proxy <file>',
    'X.509 proxy for --server (default, when no token is found: $X509_USER_PROXY, else /tmp/x509up_u<uid>)',
  )
  .option(
    '--cert <file>',
    'client certificate for --server (with --key), instead of a proxy (default, after the proxy: $X509_USER_CERT, else ~/.globus/usercert.pem)',
  )
  .option('--key <file>', 'private key of --cert')
  .option(
    '--token-file <file>',
    'bearer token (JWT) for --server, instead of a certificate (default: $BEARER_TOKEN, $BEARER_TOKEN_FILE, $XDG_RUNTIME_DIR/bt_u<uid>, /tmp/bt_u<uid>)',
  )
  .option(
    '--ca-dir <dir>',
    'CAs the server certificate is checked against (default: $X509_CERT_DIR, else /etc/grid-security/certificates)',
  )
  .showHelpAfterError('(run aso --help for usage)')
  .exitOverride()
  // only `aso serve` stops gracefully; every other command dies by a stop signal's default action
  .hook('preAction', (_program, command) => {
    if (command.name() !== 'serve') restoreDefaultStopSignals()
  })

/** The options of the command plus the global ones. */
function all<T>(cmd: Command): T {
  return cmd.optsWithGlobals() as T
}

program
  .command('demo')
  .description('run the whole pipeline on embedded defaults in a temporary directory, with faults planted')
  .option('--dir <dir>', 'work in this directory (kept afterwards) instead of a temporary one')
  .option('--files <n>', 'number of job outputs', '200')
  .option('--json', 'print the summary as JSON')
  .option('--keep', 'keep the temporary directory')
  .action(async (_o, cmd: Command) => (await import('./demo/command.js')).demoCommand(all(cmd)))

program
  .command('serve')
  .description('run the agent loops and the HTTP API (when api.tls is configured) until SIGINT/SIGTERM')
  .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']))
  .option('--listen <host:port>', 'where the API listens (default: api.listen, 127.0.0.1:8443)')
  .option('--api-only', 'run the API without agent loops (agents run elsewhere on the same database)')
  .option('--agent-only', 'run the agent loops without the API')
  .option(
    '--insecure-dev',
    'plain HTTP on loopback, identity from the X-ASO-User header: one-machine trials only',
  )
  .action(async (_o, cmd: Command) => (await import('./commands/serve.js')).serveCommand(all(cmd)))

program
  .command('inject')
  .description('store transfer requests, one JSON object per line (exit 1 if any line was rejected)')
  .argument('<file>', 'a .jsonl file, or - for standard input')
  .option('--json', 'print one JSON result per line')
  .action(async (file: string, _o, cmd: Command) =>
    (await import('./commands/inject.js')).injectCommand(file, all(cmd)),
  )

program
  .command('status')
  .description('counts per state, per link and per user')
  .option('--user <user>', 'only this user')
  .option('--task <task>', 'only this task')
  .option('--json', 'print JSON')
  .action(async (_o, cmd: Command) => (await import('./commands/status.js')).statusCommand(all(cmd)))

program
  .command('list')
  .description('transfers with their ids, filtered (users see their own; operators everyone’s)')
  .option('--user <user>', 'only this user’s')
  .option('--task <task>', 'only this task’s')
  .addOption(new Option('--state <state>', 'only files in this state').choices(TRANSFER_STATES))
  .addOption(new Option('--class <class>', 'only files with this failure class').choices(FAILURE_CLASSES))
  .option('--source <site>', 'only files from this site')
  .option('--destination <site>', 'only files to this site')
  .option('--since <when>', 'only files changed since: a duration back from now (2h, 7d) or an ISO 8601 time')
  .option('--limit <n>', 'files per page (1-1000)', '100')
  .option('--cursor <cursor>', 'the page after this cursor (printed under a page that has more)')
  .option('--all', 'every page')
  .option('--json', 'print JSON: {items, next}')
  .action(async (_o, cmd: Command) => (await import('./commands/list.js')).listCommand(all(cmd)))

program
  .command('simulate')
  .description(
    'a scenario (bundled cms-day, or a YAML/JSON file) through the real store and loops on a virtual clock, under ASO and the original system’s policies',
  )
  .argument('<scenario>', 'cms-day, or a scenario file (docs/simulation.md)')
  .option('--json', 'print JSON: one object per policy')
  .option('--report <dir>', 'also write DIR/index.html (charts) and DIR/report.json')
  .option('--scale <f>', 'files (with link bandwidth and quota) times this, e.g. 0.05 for a quick run', '1')
  .option('--seed <n>', 'another draw of the same scenario')
  .option('--policies <list>', 'which of aso,original,synchronous', 'aso,original,synchronous')
  .option('--database <dir>', 'keep each policy’s SQLite store in DIR/POLICY (default: temporary)')
  .option('--quiet', 'no progress on stderr')
  .action(async (scenario: string, _o, cmd: Command) =>
    (await import('./commands/simulate.js')).simulateCommand(scenario, all(cmd)),
  )

program
  .command('tasks')
  .description('tasks with their files per state, newest first')
  .option('--user <user>', 'only this user’s (operators)')
  .option('--search <text>', 'only tasks whose name contains this, any case')
  .addOption(
    new Option('--status <status>', 'only tasks still moving, all terminal, or with FAILED/KILLED files')
      .choices(['all', 'active', 'complete', 'failed'])
      .default('all'),
  )
  .option('--limit <n>', 'tasks per page (1-200)', '50')
  .option('--cursor <cursor>', 'the page after this cursor')
  .option('--all', 'every page')
  .option('--json', 'print JSON: {items, next}')
  .action(async (_o, cmd: Command) => (await import('./commands/tasks.js')).tasksCommand(all(cmd)))

program
  .command('whoami')
  .description('who the commands act as (name, role, groups, how authenticated) and where')
  .option('--json', 'print JSON')
  .action(async (_o, cmd: Command) => (await import('./commands/whoami.js')).whoamiCommand(all(cmd)))

const link = program
  .command('link')
  .description('operators: pause, resume or limit a link (overrides aso.yaml; recorded in the audit list)')
for (const [name, paused, what] of [
  ['pause', true, 'stop submitting files on the link (files in flight finish)'],
  ['resume', false, 'submit files on the link again'],
] as const) {
  link
    .command(name)
    .description(what)
    .argument('<source>', 'source site')
    .argument('<destination>', 'destination site')
    .option('--json', 'print JSON')
    .action(async (source: string, destination: string, _o, cmd: Command) =>
      (await import('./commands/operator.js')).linkCommand(source, destination, { paused }, all(cmd)),
    )
}
link
  .command('set')
  .description('change the link’s limit of files in flight')
  .argument('<source>', 'source site')
  .argument('<destination>', 'destination site')
  .option('--max-active <n>', 'files in flight at most, or "default" for the limit of aso.yaml')
  .option('--json', 'print JSON')
  .action(async (source: string, destination: string, _o, cmd: Command) => {
    const { linkCommand, maxActiveOption } = await import('./commands/operator.js')
    const opts = all<{ maxActive?: string }>(cmd)
    return linkCommand(source, destination, { maxActive: maxActiveOption(opts.maxActive) }, all(cmd))
  })

link
  .command('unpin')
  .description(
    'let the tuner move an adaptive link’s limit again (clears the operator’s maxActive; a fixed link goes back to aso.yaml’s)',
  )
  .argument('<source>', 'source site')
  .argument('<destination>', 'destination site')
  .option('--json', 'print JSON')
  .action(async (source: string, destination: string, _o, cmd: Command) =>
    (await import('./commands/operator.js')).linkCommand(source, destination, { maxActive: null }, all(cmd)),
  )

program
  .command('user')
  .description('operators: users’ settings (recorded in the audit list)')
  .command('weight')
  .description('change a user’s fair-share weight (1 is the default; 2 gets twice the share)')
  .argument('<user>', 'the username')
  .argument('<weight>', 'a number greater than 0, at most 1000')
  .option('--json', 'print JSON')
  .action(async (user: string, weight: string, _o, cmd: Command) =>
    (await import('./commands/operator.js')).userWeightCommand(user, weight, all(cmd)),
  )

program
  .command('explain')
  .description('a transfer, its timeline, and why it is where it is')
  .argument('<id>', 'transfer id (32 hex digits)')
  .option('--json', 'print JSON')
  .action(async (id: string, _o, cmd: Command) =>
    (await import('./commands/explain.js')).explainCommand(id, all(cmd)),
  )

program
  .command('kill')
  .description('kill transfers (by task or ids); in-flight ones are cancelled at their engine')
  .argument('[ids...]', 'transfer ids')
  .option('--task <task>', 'every transfer of this task')
  .option('--json', 'print JSON')
  .action(async (ids: string[], _o, cmd: Command) =>
    (await import('./commands/kill-retry.js')).killCommand(ids, all(cmd)),
  )

program
  .command('retry')
  .description('give FAILED and KILLED transfers a new round of attempts (by task or ids)')
  .argument('[ids...]', 'transfer ids')
  .option('--task <task>', 'every transfer of this task')
  .option('--json', 'print JSON')
  .action(async (ids: string[], _o, cmd: Command) =>
    (await import('./commands/kill-retry.js')).retryCommand(ids, all(cmd)),
  )

program
  .command('publish')
  .description('publication into the catalog: --retry gives FAILED publications a new round (by task or ids)')
  .argument('[ids...]', 'transfer ids')
  .option('--retry', 'retry the FAILED publications of these files')
  .option('--task <task>', 'every file of this task')
  .option('--json', 'print JSON')
  .action(async (ids: string[], _o, cmd: Command) =>
    (await import('./commands/publish.js')).publishCommand(ids, all(cmd)),
  )

program
  .command('wait')
  .description(
    'wait until every file of a task is terminal (exit 0 all DONE, 1 some FAILED/KILLED, 2 timeout)',
  )
  .requiredOption('--task <task>', 'the task to wait for')
  .option('--timeout <duration>', 'give up after this long, e.g. 30m, 2h', '1h')
  .option(
    '--heartbeat <duration>',
    'not on a terminal: print the counts per state this often (on a terminal one line is redrawn every second)',
    '60s',
  )
  .option('--json', 'print the task summary as JSON')
  .action(async (_o, cmd: Command) => (await import('./commands/wait.js')).waitCommand(all(cmd)))

program
  .command('agents')
  .description('live agents: their loops, last heartbeat, and what they hold (leader lease, engine jobs)')
  .option('--json', 'print JSON')
  .action(async (_o, cmd: Command) => (await import('./commands/agents.js')).agentsCommand(all(cmd)))

const db = program.command('db').description('database schema: upgrades and checks')
db.command('migrate')
  .description('run the migrations the database has not run yet')
  .option('--json', 'print JSON')
  .action(async (_o, cmd: Command) => (await import('./commands/db.js')).dbMigrateCommand(all(cmd)))
db.command('check')
  .description(
    'report pending migrations and schema drift (exit 1 if a migration is pending or the schema drifted)',
  )
  .option('--json', 'print JSON')
  .action(async (_o, cmd: Command) => (await import('./commands/db.js')).dbCheckCommand(all(cmd)))

program
  .command('couch')
  .description('the CouchDB bridge (aso.yaml ingest.couchdb)')
  .command('status')
  .description(
    'the feed checkpoint and lag, documents ingested, write-backs pending, conflicts (exit 1 when the feed lags)',
  )
  .option('--json', 'print JSON')
  .action(async (_o, cmd: Command) => (await import('./commands/couch.js')).couchStatusCommand(all(cmd)))

program
  .command('classify')
  .description("classify an engine's failure reason: prints {class, retry, hint} as JSON")
  .argument('<reason>', 'the reason string, e.g. "DESTINATION [13] Permission denied"')
  .addOption(new Option('--recoverable <bool>', "the engine's own verdict").choices(['true', 'false']))
  .action(async (reason: string, o: { recoverable?: string }) =>
    (await import('./commands/classify.js')).classifyCommand(reason, o),
  )

try {
  await program.parseAsync(process.argv)
} catch (e) {
  const code = reportError(e, process.argv.includes('--debug'), jsonRequested(process.argv.slice(2)))
  process.exitCode = code
}
