import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import type { InjectItemResult } from '../../contract/schemas.js'
import { AsoError } from '../../domain/errors.js'
import { MAX_BATCH } from '../../domain/request.js'
import { type BackendOptions, openBackend } from '../backend.js'
import { CliExit, EXIT } from '../exit.js'

interface LineResult extends InjectItemResult {
  line: number
}

async function* lines(source: string): AsyncGenerator<string> {
  const input = source === '-' ? process.stdin : createReadStream(source)
  input.on('error', () => undefined) // reported by the reader below
  const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })
  try {
    for await (const l of rl) yield l
  } catch (e) {
    throw new AsoError('usage', `cannot read ${source}: ${(e as Error).message}`)
  }
}

/** `aso inject FILE.jsonl|-`: one request per line; valid lines are stored, each line's result printed. */
export async function injectCommand(
  source: string,
  opts: BackendOptions & { json?: boolean },
): Promise<void> {
  const backend = await openBackend(opts)
  try {
    const results: LineResult[] = []
    let batch: { raw: unknown; line: number }[] = []
    const flush = async () => {
      if (!batch.length) return
      const stored = await backend.inject(batch.map((b) => b.raw))
      for (const [i, r] of stored.entries()) results.push({ ...r, line: batch[i]!.line })
      batch = []
    }
    let n = 0
    for await (const text of lines(source)) {
      n++
      if (text.trim() === '' || text.trimStart().startsWith('#')) continue
      let raw: unknown
      try {
        raw = JSON.parse(text)
      } catch (e) {
        const error = { field: '(line)', message: `not valid JSON: ${(e as Error).message}` }
        results.push({ line: n, id: null, status: 'rejected', error, errors: [error] })
        continue
      }
      batch.push({ raw, line: n })
      if (batch.length >= MAX_BATCH) await flush()
    }
    await flush()
    results.sort((a, b) => a.line - b.line)
    for (const r of results) {
      if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`)
      else if (r.status === 'rejected') {
        const why = (r.errors ?? (r.error ? [r.error] : [])).map((e) => `${e.field}: ${e.message}`).join('; ')
        process.stdout.write(`line ${r.line}: rejected: ${why}\n`)
      } else process.stdout.write(`line ${r.line}: ${r.status} ${r.id}\n`)
    }
    const rejected = results.filter((r) => r.status === 'rejected').length
    if (!opts.json) {
      const count = (s: string) => results.filter((r) => r.status === s).length
      process.stderr.write(
        `${results.length} lines: ${count('created')} created, ${count('unchanged')} unchanged, ${count('superseded')} superseded, ${rejected} rejected\n`,
      )
    }
    if (rejected) throw new CliExit(EXIT.someFailed)
  } finally {
    await backend.close()
  }
}
