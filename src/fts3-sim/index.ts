/** The FTS3 test double: a stand-in for the FTS3 REST server that moves real bytes (fts3-contract.md). */
export { type Fts3SimCliIo, runFts3SimCli } from './cli.js'
export type { Fault, FaultMatch, Fts3SimFaults } from './faults.js'
export type { Attempt, RetryEntry, SimFile, SimJob } from './job-model.js'
export type { Fts3SimOptions } from './options.js'
export { type Fts3Sim, type Fts3SimJob, startFts3Sim } from './server.js'
export { MESSAGE_TERMINATOR } from './stomp-publisher.js'
export type { TokenIssuer, TokenOptions } from './token-verifier.js'
