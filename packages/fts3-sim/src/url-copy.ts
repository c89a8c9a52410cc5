/**
 * One attempt of one file, as FTS's url-copy runs it (fts3 UrlCopyProcess::runTransfer): stat the source,
 * check its checksum, settle an existing destination by the overwrite flag, copy with one of the built-in
 * engine's methods, then compare size and checksums. Failures are url-copy's `SCOPE [errno] message`.
 */

import type { CopyFile, CopyMethod, CopyResult, StorageRegistry } from 'aso/storage'
import { chooseMethods, StorageError } from 'aso/storage'
import { parseUrl } from './wire-format.js'

export type FailurePhase = 'TRANSFER_PREPARATION' | 'TRANSFER' | 'TRANSFER_FINALIZATION'

export interface UrlCopyInput {
  jobId: string
  fileId: number
  source: string
  destination: string
  /** `ALGO:value` or `ALGO` */
  checksum: string
  /** the job's mode letter: s, t, b or n */
  verifyChecksum: string
  overwrite: boolean
  activity: string
  priority: number
  retry: number
  signal: AbortSignal
  env: Record<string, string>
}

export interface UrlCopyResult {
  ok: boolean
  /** '' on success, else `SCOPE [errno] message` */
  reason: string
  phase: FailurePhase | ''
  filesize: number | null
  method: string | null
  /** epoch ms of the copy itself (0 when it never started) */
  transferStart: number
  transferEnd: number
}

const CHECKSUM_SOURCE = 1
const CHECKSUM_TARGET = 2
const MODES: Record<string, number> = {
  s: CHECKSUM_SOURCE,
  t: CHECKSUM_TARGET,
  b: CHECKSUM_SOURCE | CHECKSUM_TARGET,
}

class AttemptFailure extends Error {
  constructor(
    readonly reason: string,
    readonly phase: FailurePhase,
  ) {
    super(reason)
  }
}

const fail = (scope: string, errno: number, message: string, phase: FailurePhase): AttemptFailure =>
  new AttemptFailure(`${scope} [${errno}] ${message}`, phase)

/** url-copy's compare_checksum: leading zeros dropped, case ignored. */
export function sameChecksum(a: string, b: string): boolean {
  const norm = (s: string): string => s.trim().replace(/^0+/, '').toLowerCase()
  return norm(a) === norm(b)
}

function storageFailure(err: unknown, scope: 'SOURCE' | 'DESTINATION', phase: FailurePhase): AttemptFailure {
  if (err instanceof AttemptFailure) return err
  if (err instanceof StorageError) return new AttemptFailure(err.reason, phase)
  return fail(scope, 5, (err as Error).message, phase)
}

export class UrlCopy {
  constructor(
    private readonly storage: StorageRegistry,
    private readonly methods: readonly CopyMethod[],
  ) {}

  async run(input: UrlCopyInput): Promise<UrlCopyResult> {
    const result: UrlCopyResult = {
      ok: false,
      reason: '',
      phase: '',
      filesize: null,
      method: null,
      transferStart: 0,
      transferEnd: 0,
    }
    try {
      await this.attempt(input, result)
      result.ok = true
    } catch (err) {
      const failure =
        err instanceof AttemptFailure ? err : fail('GENERAL_FAILURE', 5, (err as Error).message, 'TRANSFER')
      result.reason = failure.reason
      result.phase = failure.phase
    }
    return result
  }

  private async attempt(input: UrlCopyInput, result: UrlCopyResult): Promise<void> {
    const { storage } = this
    const src = { scope: 'SOURCE' as const, signal: input.signal }
    const dst = { scope: 'DESTINATION' as const, signal: input.signal }
    const prep: FailurePhase = 'TRANSFER_PREPARATION'
    const [algorithm = 'ADLER32', userValue = ''] = input.checksum.split(':')
    const mode = MODES[input.verifyChecksum] ?? 0

    const stat = await storage.stat(input.source, src).catch((e: unknown) => {
      throw storageFailure(e, 'SOURCE', prep)
    })
    if (!stat) throw fail('SOURCE', 2, 'Failed to stat the source file: No such file or directory', prep)
    if (stat.isDirectory) throw fail('SOURCE', 21, 'The source is a directory: Is a directory', prep)
    result.filesize = stat.size

    if (mode !== 0 && algorithm.toLowerCase() !== 'adler32') {
      throw fail('SOURCE', 95, `Checksum type ${algorithm} is not supported by the FTS3 test double`, prep)
    }
    // the copy methods verify against the source's adler32, so it is read whatever the mode
    const sourceSum = await storage.adler32(input.source, src).catch((e: unknown) => {
      throw storageFailure(e, 'SOURCE', prep)
    })
    if ((mode & CHECKSUM_SOURCE) !== 0 && userValue !== '' && !sameChecksum(sourceSum, userValue)) {
      throw fail(
        'SOURCE',
        5,
        `Source and user-defined ${algorithm} checksum do not match (${sourceSum} != ${userValue})`,
        prep,
      )
    }

    const existing = await storage.stat(input.destination, dst).catch((e: unknown) => {
      throw storageFailure(e, 'DESTINATION', prep)
    })
    if (existing) {
      if (!input.overwrite)
        throw fail('DESTINATION', 17, 'Destination file exists and overwrite is not enabled', prep)
      await storage.remove(input.destination, dst).catch((e: unknown) => {
        throw storageFailure(e, 'DESTINATION', prep)
      })
    }

    // what the method already read back from the destination is not asked for again (a load test's CPU)
    const verified = await this.copy(input, stat.size, sourceSum, result)

    const fin: FailurePhase = 'TRANSFER_FINALIZATION'
    const cleanup = (): Promise<void> =>
      storage.remove(input.destination, { scope: 'DESTINATION' }).catch((e: unknown) => {
        process.emitWarning(`FTS3 double: could not remove ${input.destination}: ${(e as Error).message}`)
      })
    const after = verified
      ? { size: verified.size, isDirectory: false }
      : await storage.stat(input.destination, { scope: 'DESTINATION' }).catch((e: unknown) => {
          throw storageFailure(e, 'DESTINATION', fin)
        })
    if (after?.size !== stat.size) {
      await cleanup()
      throw fail('DESTINATION', 22, 'Source and destination file size mismatch', fin)
    }
    if ((mode & CHECKSUM_TARGET) !== 0) {
      const destSum =
        verified?.adler32 ??
        (await storage.adler32(input.destination, { scope: 'DESTINATION' }).catch((e: unknown) => {
          throw storageFailure(e, 'DESTINATION', fin)
        }))
      if (userValue !== '' && !sameChecksum(userValue, destSum)) {
        await cleanup()
        throw fail(
          'DESTINATION',
          5,
          `User-defined and destination ${algorithm} checksum do not match (${userValue} != ${destSum})`,
          fin,
        )
      }
      if ((mode & CHECKSUM_SOURCE) !== 0 && !sameChecksum(sourceSum, destSum)) {
        await cleanup()
        throw fail(
          'DESTINATION',
          5,
          `Source and destination ${algorithm} checksum do not match (${sourceSum} != ${destSum})`,
          fin,
        )
      }
    }
  }

  /**
   * Runs the best method that supports the two schemes; a method removes what it left when it fails.
   * Resolves with the destination's size and adler32 when the method read them back itself.
   */
  private async copy(
    input: UrlCopyInput,
    size: number,
    adler32: string,
    result: UrlCopyResult,
  ): Promise<{ size: number; adler32: string } | undefined> {
    const sourceScheme = parseUrl(input.source).scheme
    const destinationScheme = parseUrl(input.destination).scheme
    const file: CopyFile = {
      sources: [{ scheme: sourceScheme, url: input.source }],
      destinations: [{ scheme: destinationScheme, url: input.destination }],
      size,
      adler32,
      ownsDestination: true,
    }
    const choice = chooseMethods(file, this.methods)[0]
    if (!choice) {
      throw fail('TRANSFER', 93, `No copy method from ${sourceScheme} to ${destinationScheme}`, 'TRANSFER')
    }
    result.method = choice.method.name
    let outcome: CopyResult | undefined
    result.transferStart = Date.now()
    await choice.method.run(
      [{ file, source: choice.source, destination: choice.destination, signal: input.signal }],
      { concurrency: 1, env: input.env },
      (_task, r) => {
        outcome = r
      },
    )
    result.transferEnd = Date.now()
    if (!outcome) throw fail('TRANSFER', 5, `${choice.method.name} reported no result`, 'TRANSFER')
    if (!outcome.ok) throw new AttemptFailure(outcome.reason, 'TRANSFER')
    return outcome.verified
  }
}
