/**
 * The built CLI on publication (issue 12): `aso publish --retry` by task and by ids, with --json and with the
 * clear answer when nothing FAILED; the publication line of `aso status` and `aso explain`. The records reach
 * their publication states through the store's own operations, on the lab's database.
 */
import { spawn } from 'node:child_process'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/load.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/store.js'
import { type FileLab, makeFileLab } from '../support/file-sites.js'
import { close, deliver, intoBlock, publishable } from '../support/publication.js'

const CLI = path.resolve('dist/cli/main.js')

function aso(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [CLI, ...args], { env: { ...process.env, ASO_USER: 'ops' } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
    child.stdin.end()
  })
}

describe('aso publish --retry, and publication in status and explain', () => {
  let lab: FileLab
  let store: Store
  const files = publishable(4, 'alice', 'P1')
  const id = (i: number) => files[i]!.id
  const run = (...args: string[]) => aso(['--config', lab.configPath, ...args])

  beforeAll(async () => {
    lab = await makeFileLab({
      config: {
        users: { alice: {}, ops: { role: 'operator' } },
        catalog: {
          type: 'rucio',
          url: 'http://127.0.0.1:1',
          auth: { type: 'userpass', account: 'root', username: 'svc', password: 'secret' },
        },
      },
    })
    store = await openStore(loadConfig({ path: lab.configPath }).config.database)
    const now = Date.now() - 60_000
    await store.inject(files, { now, actor: 'test', maxAttempts: 1 })
    await deliver(store, files, now + 1000)
    await intoBlock(store, 'alice', [id(0), id(1)], 'blk-1', now + 2000)
    await close(store, 'blk-1', now + 2000)
    await store.recordPublishFailure(
      'blk-1',
      { failureClass: 'catalog-permanent', reason: 'Rucio has no scope user.alice', retryAt: null },
      now + 3000,
      'publisher',
    )
    await intoBlock(store, 'alice', [id(2)], 'blk-2', now + 4000)
    await close(store, 'blk-2', now + 4000)
    await store.recordPublished('blk-2', { published: [id(2)], rejected: [], ruleId: 'r' }, now + 5000, 'p')
  })
  afterAll(async () => store?.close())

  it('status counts publication states, in JSON and as a line', async () => {
    const json = await run('status', '--json')
    expect(json.code).toBe(0)
    expect(JSON.parse(json.stdout).publication).toEqual({
      NOT_REQUIRED: 0,
      PENDING: 1,
      PUBLISHING: 0,
      PUBLISHED: 1,
      FAILED: 2,
    })
    const text = await run('status', '--task', 'P1')
    expect(text.stdout).toMatch(/^publication: PENDING 1 {2}PUBLISHED 1 {2}FAILED 2$/m)
  })

  it('explain prints why a file is not published and the command that retries it', async () => {
    const r = await run('explain', id(0))
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(
      `publication: FAILED (catalog-permanent): Rucio has no scope user.alice; after fixing, \`aso publish --retry ${id(0)}\``,
    )
  })

  it('wants --retry and a selector', async () => {
    const bare = await run('publish', '--task', 'P1')
    expect(bare.code).toBe(3)
    expect(bare.stderr).toMatch(/aso publish --retry --task T \| IDS…/)
    const none = await run('publish', '--retry')
    expect(none.code).toBe(3)
    expect(none.stderr).toMatch(/name the transfers: --task TASK or one or more ids/)
  })

  it('retries FAILED publications by ids, then says plainly that nothing is left FAILED', async () => {
    const r = await run('publish', '--retry', id(0), id(2))
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('2 files in 1 block registered again; 1 not FAILED (left alone)\n')
    expect((await store.get(id(1)))!.publicationState).toBe('PUBLISHING')
    const again = await run('publish', '--retry', '--task', 'P1', '--json')
    expect(JSON.parse(again.stdout)).toEqual({
      republished: 0,
      requeued: 0,
      blocks: 0,
      notFailed: 4,
      notFound: [],
    })
    const text = await run('publish', '--retry', '--task', 'P1')
    expect(text.stdout).toMatch(
      /^nothing to retry: no publication of task P1 is FAILED \(4 publishable files are/,
    )
  })
})
