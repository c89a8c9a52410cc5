/**
 * A destination disk that fills up during a file:// copy (issue 16 item 7): the write that does not fit is a
 * short one, and the copy must say "No space left on device" (quota: the user's transfers to that site wait,
 * no attempt is charged) instead of coming up short and being taken for a corrupt copy. The full disk is a
 * real one: a 1 MiB tmpfs mounted for the test (needs root, as `npm test` runs in CI).
 */
import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { adler32 } from 'hash-wasm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { classify } from '../../src/domain/failures.js'
import type { CopyResult, CopyTask } from '../../src/storage/copy-method.js'
import { fileCopy } from '../../src/storage/file/file-copy.js'
import { startTestAgent } from '../support/agent.js'
import { makeFileLab, testBytes } from '../support/file-sites.js'

const run = promisify(execFile)
const SIZE = 3 << 20

let dir = ''
let full = ''
let mountError: string | null = null

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'aso-full-disk-'))
  full = path.join(dir, 'full')
  await mkdir(full)
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', full])
  } catch (e) {
    mountError = (e as Error).message.split('\n')[0] ?? 'mount failed'
  }
})

afterAll(async () => {
  if (!mountError) await run('umount', ['-l', full]).catch(() => undefined)
  await rm(dir, { recursive: true, force: true })
})

const parts = (d: string) =>
  readdirSync(d, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.aso-part'))

describe('a destination disk that fills up during a file:// copy', () => {
  it('the copy fails with DESTINATION [28] No space left on device (quota), and leaves nothing', async (t) => {
    if (mountError) return t.skip(`cannot mount a small tmpfs to fill (${mountError}): run as root`)
    const data = testBytes(SIZE, 3)
    const src = path.join(dir, 'src.root')
    await writeFile(src, data)
    const s = { scheme: 'file', url: pathToFileURL(src).href }
    const d = { scheme: 'file', url: pathToFileURL(path.join(full, 'user/alice/out.root')).href }
    const task: CopyTask = {
      file: {
        sources: [s],
        destinations: [d],
        size: SIZE,
        adler32: await adler32(data),
        ownsDestination: false,
      },
      source: s,
      destination: d,
      signal: new AbortController().signal,
    }
    let result: CopyResult | undefined
    await fileCopy.run([task], { concurrency: 1, env: {} }, (_, r) => {
      result = r
    })
    expect(result).toMatchObject({ ok: false })
    const reason = (result as { reason: string }).reason
    expect(reason).toMatch(/^DESTINATION \[28\] No space left on device/)
    expect(classify(reason).class).toBe('quota')
    expect(parts(full)).toEqual([])
  })

  it('through the agent: the file waits under a quota hold, no attempt charged, and nothing is left behind', async (t) => {
    if (mountError) return t.skip(`cannot mount a small tmpfs to fill (${mountError}): run as root`)
    const lab = await makeFileLab({ dir: path.join(dir, 'lab') })
    // the destination site's storage is the full disk
    await rm(path.join(lab.sitesDir, 'SITE_B'), { recursive: true })
    await run('ln', ['-s', full, path.join(lab.sitesDir, 'SITE_B')])
    const agent = await startTestAgent(lab.configPath)
    try {
      const w = await lab.writeOutput('SITE_A', '/store/temp/user/alice.abc/big.root', testBytes(SIZE, 5))
      const [r] = await agent.inject([
        lab.request({ user: 'alice', source: 'SITE_A', destination: 'SITE_B', name: 'big.root', ...w }),
      ])
      await agent.waitFor(
        async () => (await agent.store.get(r!.id!))?.failureClass === 'quota',
        30_000,
        'the file under a quota hold',
      )
      const rec = (await agent.store.get(r!.id!))!
      expect(rec.failureReason).toMatch(/^DESTINATION \[28\] No space left on device/)
      expect(rec.attempt).toBe(1)
      expect(['NEW', 'RETRY']).toContain(rec.state)
      expect(existsSync(lab.path('SITE_A', '/store/temp/user/alice.abc/big.root'))).toBe(true)
      expect(parts(full)).toEqual([])
    } finally {
      await agent.stop()
    }
  })
})
