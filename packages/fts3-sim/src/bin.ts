#!/usr/bin/env node
/** `aso-fts3-sim`: the FTS3 double as a command (README.md of this package). */
import { runFts3SimCli } from './cli.js'

process.exitCode = await runFts3SimCli(process.argv.slice(2))
