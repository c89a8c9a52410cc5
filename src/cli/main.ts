#!/usr/bin/env node
import { Command, Option } from 'commander'
import { classifyCommand } from './commands/classify.js'
import { explainCommand } from './commands/explain.js'
import { injectCommand } from './commands/inject.js'
import { killCommand, retryCommand } from './commands/kill-retry.js'
import { serveCommand } from './commands/serve.js'
import { statusCommand } from './commands/status.js'
import { demoCommand } from './demo/command.js'
import { reportError } from './exit.js'

const program = new Command()
program
  .name('aso')
  .description('ASO: asynchronous stage-out of grid job outputs to their final destination')
  .version('0.1.0')
  .option(
    '--config <file>',
    'configuration file (default: $ASO_CONFIG, else ./aso.yaml, else embedded defaults)',
  )
  .option(
    '--db <url>',
    'database: sqlite:PATH, a file path, or postgres://… (overrides database: in aso.yaml)',
  )
  .option('--debug', 'print stack traces and debug logs')
  .showHelpAfterError('(run aso --help for usage)')
  .exitOverride()

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
  .action((_o, cmd: Command) => demoCommand(all(cmd)))

program
  .command('serve')
  .description('run the agent (submitter, poller, retrier, killer, cleaner, reaper) until SIGINT/SIGTERM')
  .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']))
  .action((_o, cmd: Command) => serveCommand(all(cmd)))

program
  .command('inject')
  .description('store transfer requests, one JSON object per line (exit 1 if any line was rejected)')
  .argument('<file>', 'a .jsonl file, or - for standard input')
  .option('--json', 'print one JSON result per line')
  .action((file: string, _o, cmd: Command) => injectCommand(file, all(cmd)))

program
  .command('status')
  .description('counts per state, per link and per user')
  .option('--user <user>', 'only this user')
  .option('--task <task>', 'only this task')
  .option('--json', 'print JSON')
  .action((_o, cmd: Command) => statusCommand(all(cmd)))

program
  .command('explain')
  .description('a transfer, its timeline, and why it is where it is')
  .argument('<id>', 'transfer id (32 hex digits)')
  .option('--json', 'print JSON')
  .action((id: string, _o, cmd: Command) => explainCommand(id, all(cmd)))

program
  .command('kill')
  .description('kill transfers (by task or ids); in-flight ones are cancelled at their engine')
  .argument('[ids...]', 'transfer ids')
  .option('--task <task>', 'every transfer of this task')
  .option('--json', 'print JSON')
  .action((ids: string[], _o, cmd: Command) => killCommand(ids, all(cmd)))

program
  .command('retry')
  .description('give FAILED and KILLED transfers a new round of attempts (by task or ids)')
  .argument('[ids...]', 'transfer ids')
  .option('--task <task>', 'every transfer of this task')
  .option('--json', 'print JSON')
  .action((ids: string[], _o, cmd: Command) => retryCommand(ids, all(cmd)))

program
  .command('classify')
  .description("classify an engine's failure reason: prints {class, retry, hint} as JSON")
  .argument('<reason>', 'the reason string, e.g. "DESTINATION [13] Permission denied"')
  .addOption(new Option('--recoverable <bool>', "the engine's own verdict").choices(['true', 'false']))
  .action((reason: string, o: { recoverable?: string }) => classifyCommand(reason, o))

try {
  await program.parseAsync(process.argv)
} catch (e) {
  const code = reportError(e, process.argv.includes('--debug'))
  process.exitCode = code
}
