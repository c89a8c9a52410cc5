/**
 * The built-in engine's file:// copy of large files (from KERNEL_COPY_MIN_BYTES on): copied by the kernel,
 * adler32 of the destination read back while it grows. Real files on the real file system.
 */
import { existsSync, readdirSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { adler32 } from 'hash-wasm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CopyResult, CopyTask } from '../../src/storage/copy-method.js'
import { fileCopy } from '../../src/storage/file/file-copy.js'
import { KERNEL_COPY_MIN_BYTES } from '../../src/storage/file/file-kernel-copy.js'
import { testBytes } from '../support/file-sites.js'

let dir: string
let src: string
let data: Buffer
let sum: string

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'aso-kernel-copy-'))
  src = path.join(dir, 'A/big.root')
  await mkdir(path.dirname(src), { recursive: true })
  data = testBytes(KERNEL_COPY_MIN_BYTES + 12_345, 7)
  await writeFile(src, data)
  sum = await adler32(data)
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

function task(dst: string, adler: string, signal = new AbortController().signal): CopyTask {
  const s = { scheme: 'file', url: pathToFileURL(src).href }
  const d = { scheme: 'file', url: pathToFileURL(dst).href }
  return {
    file: {
      sources: [s],
      destinations: [d],
      size: data.length,
      adler32: adler,
      ownsDestination: false,
    },
    source: s,
    destination: d,
    signal,
  }
}

async function copy(t: CopyTask): Promise<CopyResult> {
  let result: CopyResult | undefined
  await fileCopy.run([t], { concurrency: 1, env: {} }, (_, r) => {
    result = r
  })
  return result!
}

const leftovers = (d: string) => readdirSync(d).filter((n) => n.endsWith('.aso-part'))

describe('file:// copy of a large file by the kernel', () => {
  it('copies it byte for byte and reports the adler32 it read back from the destination', async () => {
    const dst = path.join(dir, 'B/ok/big.root')
    const r = await copy(task(dst, sum))
    expect(r).toEqual({ ok: true, bytes: data.length, verified: { size: data.length, adler32: sum } })
    expect((await readFile(dst)).equals(data)).toBe(true)
    expect(leftovers(path.dirname(dst))).toEqual([])
  })

  it('fails a source that is not what the job wrote as permanent-source, and leaves nothing', async () => {
    const dst = path.join(dir, 'B/bad/big.root')
    const r = await copy(task(dst, '0badc0de'))
    expect(r.ok).toBe(false)
    expect(r.ok ? '' : r.reason).toMatch(
      /^SOURCE \[5\] Source and user-defined ADLER32 checksum do not match/,
    )
    expect(existsSync(dst)).toBe(false)
    expect(leftovers(path.dirname(dst))).toEqual([])
  })

  it('an abort during the copy reports it aborted and leaves no file, whole or partial', async () => {
    const dst = path.join(dir, 'B/abort/big.root')
    const ac = new AbortController()
    const running = copy(task(dst, sum, ac.signal))
    setTimeout(() => ac.abort(), 20)
    const r = await running
    expect(r).toEqual({ ok: false, reason: 'TRANSFER [125] Transfer aborted' })
    expect(existsSync(dst)).toBe(false)
    expect(leftovers(path.dirname(dst))).toEqual([])
  })
})
