/** The FTS3 double as a library: start it in-process (tests, benchmarks) or run its command. */
export { type Fts3SimCliIo, runFts3SimCli } from './cli.js'
export type { Fts3SimFaults } from './faults.js'
export type { Fts3SimOptions } from './options.js'
export { type Fts3Sim, type Fts3SimJob, startFts3Sim } from './server.js'
