/**
 * A small deterministic model of one network link between two storage sites, for simulated engines and the
 * adaptive-limit tests. Pure functions of (model, copies running at once): no clock, no randomness (a caller
 * that wants noise adds its own, seeded).
 *
 * Up to `streams` parallel copies each get `streamRate` bytes/s. Past that the link is congested: the bytes it
 * moves shrink as `streams / active` to the power `congestion` (retransmissions, server overload) and a
 * growing share of copies ends in a transient failure (`failureSlope` per `streams` copies over capacity).
 * Each copy also pays `latencyMs` (connection set-up, round trips), which is why a few more streams than
 * bandwidth alone suggests can still help small files.
 */
export interface LinkModel {
  /** parallel copies the link carries before congestion */
  streams: number
  /** bytes/s one copy gets while the link is not congested */
  streamRate: number
  /** ms each copy spends besides moving bytes (default 0) */
  latencyMs?: number
  /** how steeply throughput falls past `streams` (default 1: at twice the streams, half the bytes) */
  congestion?: number
  /** share of copies failing per `streams` copies over capacity (default 0.5), capped at `maxFailureRate` */
  failureSlope?: number
  /** the highest share of copies that fail (default 0.9) */
  maxFailureRate?: number
}

/** Files of this size when a caller gives none (bytes). */
export const DEFAULT_FILE_SIZE = 100 * 1024 * 1024

function check(model: LinkModel, active: number): void {
  if (!(model.streams > 0) || !(model.streamRate > 0))
    throw new RangeError('a link model needs streams > 0 and streamRate > 0')
  if (!(active >= 0)) throw new RangeError(`active copies must be >= 0, got ${active}`)
}

/** Share of copies that end in a transient failure with `active` copies running at once (0..maxFailureRate). */
export function transientFailureRate(model: LinkModel, active: number): number {
  check(model, active)
  if (active <= model.streams) return 0
  const over = (active - model.streams) / model.streams
  return Math.min(model.maxFailureRate ?? 0.9, (model.failureSlope ?? 0.5) * over)
}

/** Bytes/s the link moves over all copies (successful or not) with `active` copies running. */
export function rawThroughput(model: LinkModel, active: number): number {
  check(model, active)
  if (active <= model.streams) return active * model.streamRate
  return model.streams * model.streamRate * (model.streams / active) ** (model.congestion ?? 1)
}

/** Seconds one copy of `fileSize` bytes takes with `active` copies running (latency included). */
export function copySeconds(model: LinkModel, active: number, fileSize = DEFAULT_FILE_SIZE): number {
  const a = Math.max(1, active)
  const perCopy = rawThroughput(model, a) / a
  return (model.latencyMs ?? 0) / 1000 + fileSize / perCopy
}

/** Copies that end per second (successful or not) with `active` copies running. */
export function copiesPerSecond(model: LinkModel, active: number, fileSize = DEFAULT_FILE_SIZE): number {
  if (active <= 0) return 0
  return active / copySeconds(model, active, fileSize)
}

/** Bytes/s of successful copies (goodput) with `active` copies running: what an operator wants highest. */
export function linkThroughput(model: LinkModel, active: number, fileSize = DEFAULT_FILE_SIZE): number {
  return copiesPerSecond(model, active, fileSize) * fileSize * (1 - transientFailureRate(model, active))
}

/** What one interval of `seconds` on the link yields: files done, bytes done, transient failures. */
export function linkInterval(
  model: LinkModel,
  active: number,
  seconds: number,
  fileSize = DEFAULT_FILE_SIZE,
): { doneFiles: number; doneBytes: number; transientFailures: number } {
  const ended = copiesPerSecond(model, active, fileSize) * seconds
  const failed = ended * transientFailureRate(model, active)
  const done = ended - failed
  return { doneFiles: done, doneBytes: done * fileSize, transientFailures: failed }
}
