import { existsSync, readdirSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { IN_FLIGHT_STATES } from '../../src/domain/states.js'
import { startTestAgent, type TestAgent } from '../support/agent.js'
import { type FileLab, makeFileLab, testBytes } from '../support/file-sites.js'

/** Every `.aso-part` file under a directory (there must be none once copies are over). */
function partFiles(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.aso-part'))
}

async function outputs(lab: FileLab, user: string, n: number, size: (i: number) => number, prefix = 'f') {
  const reqs: Record<string, unknown>[] = []
  for (let i = 0; i < n; i++) {
    const name = `${prefix}${i}.root`
    const data = testBytes(size(i), i + 1)
    const w = await lab.writeOutput('SITE_A', `/store/temp/user/${user}.abc/${name}`, data)
    reqs.push(
      lab.request({ user, source: 'SITE_A', destination: 'SITE_B', name, task: `task-${user}`, ...w }),
    )
  }
  return reqs
}

describe('agent on file:// sites', () => {
  let agent: TestAgent | undefined
  afterEach(async () => {
    await agent?.stop()
    agent = undefined
  })

  it('moves every file, verifies it, removes the temporary sources, never exceeds the link limit', async () => {
    const lab = await makeFileLab({ config: { links: { default: { maxActive: 7, maxFilesPerJob: 5 } } } })
    agent = await startTestAgent(lab.configPath)
    const reqs = [
      ...(await outputs(lab, 'alice', 120, (i) => 10 + i * 997)),
      ...(await outputs(lab, 'bob', 80, (i) => 3 + i)),
    ]
    const results = await agent.inject(reqs)
    await agent.waitUntilSettled()
    await agent.waitFor(
      async () => (await agent!.store.dueCleanups(Date.now(), 1)).length === 0,
      10_000,
      'clean-ups',
    )
    for (const [i, r] of results.entries()) {
      const t = (await agent.store.get(r.id!))!
      expect(t.state).toBe('DONE')
      expect(t.attempt).toBe(1)
      expect(t.sourceCleanup).toBe('DONE')
      expect(t.method).toBe('file-copy')
      const req = reqs[i]!
      const dst = await readFile(lab.path('SITE_B', String(req.destinationLfn)))
      expect(dst.length).toBe(req.size)
      expect(existsSync(lab.path('SITE_A', String(req.sourceLfn)))).toBe(false)
    }
    expect(partFiles(lab.sitesDir)).toEqual([])
    // replay the history: files in flight on the link never exceeded maxActive
    const events = (await Promise.all(results.map((r) => agent!.store.history(r.id!))))
      .flat()
      .sort((a, b) => a.id - b.id)
    let inFlight = 0
    let peak = 0
    for (const e of events) {
      const was = e.from !== null && IN_FLIGHT_STATES.includes(e.from)
      const is = IN_FLIGHT_STATES.includes(e.to)
      inFlight += Number(is) - Number(was)
      peak = Math.max(peak, inFlight)
    }
    expect(peak).toBeLessThanOrEqual(7)
    expect(peak).toBeGreaterThan(1)
  })

  it('retries a transient failure and succeeds, and fails permanent ones at once with their class', async () => {
    const lab = await makeFileLab()
    agent = await startTestAgent(lab.configPath)
    const [good, missing, badSum, flaky] = await outputs(lab, 'alice', 4, () => 1000)
    await import('node:fs/promises').then((fs) => fs.rm(lab.path('SITE_A', String(missing!.sourceLfn))))
    badSum!.checksums = { adler32: '00000001' }
    // a file stands where the destination directory of `flaky` must go: mkdir fails with ENOTDIR
    flaky!.destinationLfn = '/store/user/alice/flaky/f3.root'
    const blocker = lab.path('SITE_B', '/store/user/alice/flaky')
    await mkdir(path.dirname(blocker), { recursive: true })
    await writeFile(blocker, 'x')
    const ids = (await agent.inject([good!, missing!, badSum!, flaky!])).map((r) => r.id!)
    await agent.waitFor(
      async () => (await agent!.store.get(ids[3]!))!.state === 'RETRY',
      10_000,
      'flaky file in RETRY',
    )
    const retrying = (await agent.store.get(ids[3]!))!
    expect(retrying.failureClass).toBe('transient')
    expect(retrying.failureReason).toMatch(/^DESTINATION \[20\]/)
    await import('node:fs/promises').then((fs) => fs.rm(blocker))
    await agent.waitUntilSettled()
    const recs = await agent.store.getMany(ids)
    const byId = new Map(recs.map((r) => [r.id, r]))
    expect(byId.get(ids[0]!)!.state).toBe('DONE')
    expect(byId.get(ids[1]!)).toMatchObject({ state: 'FAILED', failureClass: 'permanent-source', attempt: 1 })
    expect(byId.get(ids[1]!)!.failureReason).toMatch(/^SOURCE \[2\] No such file or directory/)
    expect(byId.get(ids[2]!)).toMatchObject({ state: 'FAILED', failureClass: 'permanent-source' })
    expect(existsSync(lab.path('SITE_B', String(badSum!.destinationLfn)))).toBe(false)
    expect(byId.get(ids[3]!)).toMatchObject({ state: 'DONE', attempt: 2 })
  })

  it('kills a file during its copy: KILLED, and nothing left at the destination', async () => {
    const lab = await makeFileLab({ config: { local: { maxConcurrent: 2 } } })
    agent = await startTestAgent(lab.configPath)
    const reqs = await outputs(lab, 'alice', 2, () => 120 * 1024 * 1024, 'big')
    for (const r of reqs) r.task = 'to-kill'
    const ids = (await agent.inject(reqs)).map((r) => r.id!)
    await agent.waitFor(
      async () => partFiles(lab.path('SITE_B', '/store/user/alice')).length > 0,
      20_000,
      'copy in progress',
    )
    expect(await agent.store.kill({ task: 'to-kill' }, 'killed by test', Date.now(), 'test')).toMatchObject({
      killing: 2,
    })
    // as the API does after a kill: the killer cancels now, not at its next interval (a loaded machine
    // finishes a 120 MiB copy within one)
    agent.agent.wake('killer')
    await agent.waitUntilSettled()
    for (const t of await agent.store.getMany(ids)) {
      expect(t.state).toBe('KILLED')
      expect(existsSync(lab.path('SITE_B', t.destinationLfn))).toBe(false)
    }
    expect(partFiles(lab.sitesDir)).toEqual([])
  })

  it('shuts down gracefully: unfinished copies return to NEW uncharged, and a restart finishes them', async () => {
    const lab = await makeFileLab({
      config: { local: { maxConcurrent: 2 }, agent: { shutdownGrace: '100ms', submitInterval: '100ms' } },
    })
    agent = await startTestAgent(lab.configPath)
    const reqs = await outputs(lab, 'alice', 4, () => 100 * 1024 * 1024, 'big')
    const ids = (await agent.inject(reqs)).map((r) => r.id!)
    await agent.waitFor(
      async () => partFiles(lab.path('SITE_B', '/store/user/alice')).length > 0,
      20_000,
      'copy in progress',
    )
    await agent.stop()
    const after = await (await startTestAgent(lab.configPath, { start: false })).store.getMany(ids)
    expect(after.filter((t) => t.state === 'NEW').length).toBeGreaterThan(0)
    expect(after.every((t) => t.state === 'NEW' || t.state === 'DONE')).toBe(true)
    expect(after.every((t) => t.attempt === 1)).toBe(true)
    expect(partFiles(lab.sitesDir)).toEqual([])
    agent = await startTestAgent(lab.configPath)
    await agent.waitUntilSettled(60_000)
    expect((await agent.store.getMany(ids)).map((t) => [t.state, t.attempt])).toEqual(
      ids.map(() => ['DONE', 1]),
    )
  })

  it('follows the overwrite policy for files ASO did not write', async () => {
    const lab = await makeFileLab()
    agent = await startTestAgent(lab.configPath)
    const [same, different] = await outputs(lab, 'alice', 2, () => 5000)
    // someone already put the identical file at the destination, and a different one for the second
    await mkdir(path.dirname(lab.path('SITE_B', String(same!.destinationLfn))), { recursive: true })
    await writeFile(lab.path('SITE_B', String(same!.destinationLfn)), testBytes(5000, 1))
    await writeFile(lab.path('SITE_B', String(different!.destinationLfn)), 'someone else wrote this')
    const ids = (await agent.inject([same!, different!])).map((r) => r.id!)
    await agent.waitUntilSettled()
    const [a, b] = await agent.store.getMany(ids).then((r) => ids.map((id) => r.find((t) => t.id === id)!))
    expect(a).toMatchObject({ state: 'DONE' })
    expect(b).toMatchObject({ state: 'FAILED', failureClass: 'exists' })
    expect(await readFile(lab.path('SITE_B', String(different!.destinationLfn)), 'utf8')).toBe(
      'someone else wrote this',
    )
  })
})
