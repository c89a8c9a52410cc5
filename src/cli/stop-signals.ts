/**
 * SIGINT and SIGTERM from the first instant of the CLI's life. main.ts imports this module before anything
 * else, so a stop asked while Node is still loading `aso serve` (hundreds of milliseconds of module loading,
 * opening the store, taking over a dead agent's jobs) is held instead of killing the process by the default
 * action, and handed to the command once it says how it stops. Commands that have no graceful stop give the
 * signals back to their default action, and a stop that arrived during their start-up takes effect at once.
 */

type StopListener = (signal: NodeJS.Signals) => void

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const

const held: NodeJS.Signals[] = []
let listener: StopListener | null = null

function onSignal(signal: NodeJS.Signals): void {
  if (listener) listener(signal)
  else held.push(signal)
}

for (const s of STOP_SIGNALS) process.on(s, onSignal)

/** For a command with a graceful stop (`aso serve`): every stop signal from now on, and any held before. */
export function onStopSignal(l: StopListener): void {
  listener = l
  for (const s of held.splice(0)) l(s)
}

/** For every other command: stop signals take their default action again, a held one right now. */
export function restoreDefaultStopSignals(): void {
  for (const s of STOP_SIGNALS) process.off(s, onSignal)
  const first = held.splice(0)[0]
  if (first) process.kill(process.pid, first)
}
