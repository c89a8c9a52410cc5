/**
 * Publication crash test (issue 12): `aso serve` (the built CLI) moves 1,000 outputs between file:// sites and
 * publishes them into a real Rucio server (test/support/rucio.ts) in blocks of 50, and is SIGKILLed 5 times
 * while it publishes, each time as soon as a catalog call of the new life is under way (the block is
 * PUBLISHING in the store and already exists in Rucio), then restarted. A final agent runs until every file
 * is PUBLISHED. Mark before call and idempotent registration must then give: in Rucio, every file a replica at
 * the RSE with its PFN, attached to exactly one block of the container, each block closed, at most 50 files,
 * one OK rule whose locks are its files, and no dataset in the scope that is not such a block; in the store,
 * every file PUBLISHED in the block Rucio has it in, no publication attempt charged for the crashes, and one
 * "joined block" and one "published in block" history row per file.
 *
 * Runs the built CLI (dist/cli/main.js: `npm run build`). `ASO_CRASH_KEEP=1` keeps the lab directory (store,
 * agents' logs) under the system's temp directory, and prints where.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import Database from 'better-sqlite3'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStore } from '../../src/store/open.js'
import { keepNative } from '../../src/store/sqlite/driver.js'
import {
  CLI,
  cliEnv,
  ensureStopped,
  logTail,
  requireBuiltCli,
  type ServeProcess,
  sigkillAndReap,
  startServe,
  stopGracefully,
} from '../support/crash-agents.js'
import { type FileLab, makeFileLab, testBytes } from '../support/file-sites.js'
import { RUCIO_ROOT, type RucioPeer, rucioPeerMissing, startRucioPeer } from '../support/rucio.js'

const execFileP = promisify(execFile)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const missing = rucioPeerMissing()
const FILES = 1000
const KILLS = 5
const MAX_FILES = 50
const RSE = 'T2_XX_FILE'
const USER = 'alice'
const SCOPE = `user.${USER}`
const DATASET = '/Crash/alice-v1/USER'
/**
 * The stage of a block's registration in Rucio each kill waits for (see `stage` below): the dataset made
 * (replicas being registered: the longest part of a call) or its files attached (container and rule next).
 * Later stages are left to chance: between the rule and the close there is one short call.
 */
const AIMS = [1, 2, 1, 2, 2]
/** from the first `aso serve` to every file PUBLISHED */
const BUDGET_MS = 240_000

let rucio: RucioPeer | null = null
let lab: FileLab | null = null
const lives: ServeProcess[] = []

/** The dataset names of a scope, from Rucio's DID search (RucioAdmin has no such call). */
async function datasetsInScope(url: string, scope: string): Promise<string[]> {
  const login = await request(`${url}/auth/userpass`, {
    headers: {
      'x-rucio-account': RUCIO_ROOT.account,
      'x-rucio-username': RUCIO_ROOT.username,
      'x-rucio-password': RUCIO_ROOT.password,
    },
  })
  await login.body.text()
  const token = String(login.headers['x-rucio-auth-token'])
  const res = await request(`${url}/dids/${encodeURIComponent(scope)}/dids/search?type=dataset`, {
    headers: { 'x-rucio-auth-token': token, accept: 'application/x-json-stream' },
  })
  const text = await res.body.text()
  if (res.statusCode !== 200) throw new Error(`DID search: ${res.statusCode} ${text}`)
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as string)
}

describe.skipIf(missing)(
  `publication: aso serve SIGKILLed while publishing into Rucio${missing ? ` (skipped: ${missing})` : ''}`,
  () => {
    beforeAll(async () => {
      requireBuiltCli()
      rucio = await startRucioPeer()
      // non-deterministic: the PFN ASO wrote (file:///…/sites/SITE_B/<lfn>) is registered with each replica
      await rucio.admin.addRse(RSE, {
        deterministic: false,
        protocols: [{ scheme: 'file', hostname: 'localhost', port: 0, prefix: '/' }],
      })
      await rucio.admin.addUser(USER)
      await rucio.admin.setLimit(USER, RSE)
    }, 120_000)

    afterAll(async () => {
      for (const p of lives) await ensureStopped(p)
      await rucio?.stop()
      if (lab && !process.env.ASO_CRASH_KEEP) await rm(lab.dir, { recursive: true, force: true })
    })

    it(`${FILES.toLocaleString('en')} files, ${KILLS} kills mid-publication: every file in exactly one block, nothing registered twice, no attempt charged`, async () => {
      const peer = rucio!
      const setupStart = Date.now()
      // kept: outside the run's temp directory, which goes at the end of the run
      const keep = process.env.ASO_CRASH_KEEP
        ? await mkdtemp(path.join(path.dirname(tmpdir()), 'aso-publication-crash-'))
        : undefined
      if (keep) console.log(`lab directory (kept): ${keep}`)
      lab = await makeFileLab({
        dir: keep,
        config: {
          links: { default: { maxActive: 50, maxFilesPerJob: 10 } },
          local: { maxConcurrent: 8 },
          agent: {
            submitInterval: '100ms',
            pollInterval: '1s',
            retryInterval: '100ms',
            cleanInterval: '200ms',
            reapInterval: '300ms',
            heartbeatInterval: '250ms',
            publishInterval: '200ms',
            // the reaper finds a dead agent on this host by its pid and frees its leader lease at once;
            // the lease is the backstop
            lease: '2s',
            shutdownGrace: '10s',
          },
          catalog: {
            type: 'rucio',
            url: peer.url,
            auth: { type: 'userpass', ...RUCIO_ROOT },
            rses: { SITE_B: RSE },
            blockName: '{dataset}_{uuid}',
            maxFilesPerBlock: MAX_FILES,
            blockCloseAfter: '1h',
            backoff: { initial: '1s', factor: 2, max: '5s' },
          },
        },
      })
      const l = lab

      // the outputs (1-8 KiB) and their requests, all of one dataset
      const lines: string[] = []
      const expected = new Map<string, { size: number; adler32: string; path: string }>()
      for (let i = 0; i < FILES; i++) {
        const name = `pub_${String(i).padStart(5, '0')}.root`
        const written = await l.writeOutput(
          'SITE_A',
          `/store/temp/user/${USER}.abc/${name}`,
          testBytes(1024 + ((i * 7919) % 7168), i + 1),
        )
        const req = l.request({
          user: USER,
          source: 'SITE_A',
          destination: 'SITE_B',
          name,
          task: `task-${USER}`,
          ...written,
        })
        const lfn = req.destinationLfn as string
        expected.set(lfn, { ...written, path: l.path('SITE_B', lfn) })
        lines.push(JSON.stringify({ ...req, publish: true, dataset: DATASET }))
      }
      const jsonl = path.join(l.dir, 'requests.jsonl')
      await writeFile(jsonl, `${lines.join('\n')}\n`)
      const injected = await execFileP(
        process.execPath,
        [CLI, '--config', l.configPath, 'inject', '--json', jsonl],
        { maxBuffer: 64 << 20, env: cliEnv() },
      )
      const ids: string[] = []
      for (const text of injected.stdout.trim().split('\n')) {
        const r = JSON.parse(text) as { line: number; id: string | null; status: string }
        expect(r.status, `inject line ${r.line}: ${text}`).toBe('created')
        ids.push(r.id!)
      }
      expect(ids).toHaveLength(FILES)

      // kept, like the store's own (Node 24 aborts when one of them is garbage-collected: keepNative)
      const db = keepNative(new Database(path.join(l.dir, 'aso.db'), { readonly: true, fileMustExist: true }))
      const count = (q: string, ...params: unknown[]) =>
        (keepNative(db.prepare(q)).get(...params) as { n: number }).n
      const registered = (p: ServeProcess) =>
        count('select count(*) n from agents where pid = ? and started_at >= ?', p.pid, p.spawnAt) > 0
      /** blocks whose publication has started (PUBLISHING) or ended (PUBLISHED) */
      const started = () =>
        count(`select count(*) n from publication_blocks where state in ('PUBLISHING', 'PUBLISHED')`)
      const publishing = () =>
        (
          keepNative(db.prepare(`select name from publication_blocks where state = 'PUBLISHING'`)).all() as {
            name: string
          }[]
        ).map((b) => b.name)
      /**
       * How far Rucio got with a block (RucioCatalog's order: dataset, replicas, files attached, attached to
       * the container, rule, closed): 0 nothing, 1 its dataset exists, 2 files attached, 3 a rule, 4 closed.
       */
      const stage = async (block: string): Promise<number> => {
        const did = await peer.admin.did(SCOPE, block).catch(() => null)
        if (!did) return 0
        if (!did.open) return 4
        if ((await peer.admin.rules(SCOPE, block)).length > 0) return 3
        return (await peer.admin.content(SCOPE, block)).length > 0 ? 2 : 1
      }
      const STAGES = ['not in Rucio', 'dataset made', 'files attached', 'rule made', 'closed']

      const start = Date.now()
      const deadline = start + BUDGET_MS
      const failIfDead = (p: ServeProcess, what: string) => {
        if (p.exitAt !== null)
          throw new Error(
            `aso serve ${p.pid} exited on its own (${JSON.stringify(p.exit)}) ${what}:\n${logTail(p.logPath)}`,
          )
        if (Date.now() > deadline) throw new Error(`run over its ${BUDGET_MS} ms budget ${what}`)
      }
      const serve = () => {
        const p = startServe({
          configPath: l.configPath,
          logPath: path.join(l.dir, `serve-${lives.length}.log`),
          index: lives.length,
        })
        lives.push(p)
        return p
      }

      const kills: {
        startedBlocks: number
        publishing: number
        /** the stage the kill waited for, and the furthest stage of a block of that life it left */
        target: number
        stage: number
      }[] = []
      let agent = serve()
      try {
        let atLastKill = 0
        /** blocks a killed agent left PUBLISHING, with how far Rucio had got: the next one publishes them again */
        let leftover = new Map<string, number>()
        /** the furthest stage a block got to in this life (one that moved on since the last kill) */
        const furthestNow = async () => {
          let furthest = 0
          for (const b of publishing()) {
            const st = await stage(b)
            if (st > (leftover.get(b) ?? 0)) furthest = Math.max(furthest, st)
          }
          return furthest
        }
        for (let k = 0; k < KILLS; k++) {
          while (!registered(agent)) {
            failIfDead(agent, 'before it registered')
            await sleep(10)
          }
          // progress in this life: one more block PUBLISHING or PUBLISHED than at the last kill...
          while (started() <= atLastKill) {
            failIfDead(agent, `before publishing progressed (kill ${k + 1})`)
            await sleep(10)
          }
          // ...then the kill, as soon as a catalog call of this life has got to the stage this kill aims at
          // (a block is PUBLISHING in the store and, since the last kill, Rucio got its dataset, or its files
          // attached, or its rule), so that the successor meets each kind of half-made block, some of them
          // left by a kill during the re-publication of a dead agent's blocks. A new leader first publishes
          // again what its predecessor left (oldest first, which Rucio shows only from the rule on): after
          // 3 s any stage will do, after 8 s the kill lands wherever it lands
          const target = AIMS[k]!
          const aimedAt = Date.now()
          let reached = 0
          for (;;) {
            failIfDead(agent, `before kill ${k + 1}`)
            reached = await furthestNow()
            const waited = Date.now() - aimedAt
            if (reached >= target || (reached > 0 && waited > 3000) || waited > 8000) break
            await sleep(20)
          }
          const survivors = await sigkillAndReap(agent)
          expect(survivors, `processes that outlived agent ${agent.pid} (kill ${k + 1})`).toEqual([])
          atLastKill = started()
          // what the kill left: blocks PUBLISHING in the store, the furthest stage one got to in this life
          const furthest = await furthestNow()
          const left = publishing()
          kills.push({ startedBlocks: atLastKill, publishing: left.length, target, stage: furthest })
          leftover = new Map()
          for (const b of left) leftover.set(b, await stage(b))
          agent = serve()
        }
        // no more kills: the last agent publishes the rest
        const notPublished = () =>
          count(
            `select count(*) n from transfers where publish = 1 and (state <> 'DONE' or publication_state <> 'PUBLISHED')`,
          )
        while (notPublished() > 0) {
          const failed = count(
            `select count(*) n from transfers where state in ('FAILED', 'KILLED') or publication_state = 'FAILED'`,
          )
          if (failed > 0) throw new Error(`${failed} files FAILED or KILLED:\n${logTail(agent.logPath)}`)
          failIfDead(agent, 'while finishing')
          await sleep(100)
        }
        while (!registered(agent)) {
          failIfDead(agent, 'before it registered')
          await sleep(10)
        }
      } finally {
        db.close()
      }
      const seconds = (Date.now() - start) / 1000
      const exit = await stopGracefully(agent)
      expect(exit, `graceful stop:\n${logTail(agent.logPath)}`).toEqual({ code: 0, signal: null })

      // --- Rucio: the container's blocks, their files, their rules
      const problems: string[] = []
      const blocksInContainer = await peer.admin.content(SCOPE, DATASET)
      const blockOfFile = new Map<string, string>()
      const lengths = new Map<string, number>()
      for (const b of blocksInContainer) {
        if (b.type !== 'DATASET') problems.push(`${b.name} in the container is a ${b.type}`)
        const did = await peer.admin.did(SCOPE, b.name)
        const files = await peer.admin.content(SCOPE, b.name)
        lengths.set(b.name, files.length)
        if (did.open) problems.push(`block ${b.name} is still open in Rucio`)
        if (did.length !== files.length)
          problems.push(`block ${b.name}: length ${did.length}, ${files.length} files`)
        if (files.length > MAX_FILES) problems.push(`block ${b.name} has ${files.length} files`)
        for (const f of files) {
          const other = blockOfFile.get(f.name)
          if (other) problems.push(`${f.name} is in ${other} and in ${b.name}`)
          blockOfFile.set(f.name, b.name)
        }
        const rules = await peer.admin.rules(SCOPE, b.name)
        if (rules.length !== 1) problems.push(`block ${b.name} has ${rules.length} rules`)
        for (const r of rules) {
          if (r.state !== 'OK') problems.push(`rule ${r.id} of ${b.name} is ${r.state}`)
          if (r.locks_ok_cnt !== files.length)
            problems.push(`rule ${r.id} of ${b.name}: ${r.locks_ok_cnt} locks OK for ${files.length} files`)
          if (r.account !== USER || r.rse_expression !== RSE || r.copies !== 1 || r.grouping !== 'DATASET')
            problems.push(`rule ${r.id} of ${b.name}: ${JSON.stringify(r)}`)
        }
      }
      const total = [...lengths.values()].reduce((a, n) => a + n, 0)
      expect(total, 'sum of the block lengths').toBe(FILES)
      expect([...blockOfFile.keys()].sort()).toEqual([...expected.keys()].sort())
      // no dataset left behind by a killed agent: the scope holds the container's blocks and nothing else
      expect((await datasetsInScope(peer.url, SCOPE)).sort()).toEqual(
        blocksInContainer.map((b) => b.name).sort(),
      )
      // each file one replica, at the RSE, with the PFN ASO wrote, its bytes and adler32
      const names = [...expected.keys()]
      for (let i = 0; i < names.length; i += 200) {
        for (const r of await peer.admin.replicas(SCOPE, names.slice(i, i + 200))) {
          const want = expected.get(r.name)!
          const pfns = Object.values(r.rses).flat()
          if (r.bytes !== want.size || r.adler32 !== want.adler32)
            problems.push(
              `${r.name}: ${r.bytes} bytes, adler32 ${r.adler32}; ASO wrote ${want.size}, ${want.adler32}`,
            )
          // Rucio answers the PFN as it rebuilds it from the RSE's protocol (file://localhost/…): the path counts
          if (
            Object.keys(r.rses).join() !== RSE ||
            pfns.length !== 1 ||
            new URL(pfns[0]!).pathname !== want.path
          )
            problems.push(`${r.name}: replicas ${JSON.stringify(r.rses)}, want ${want.path} at ${RSE}`)
          if (r.states[RSE] !== 'AVAILABLE') problems.push(`${r.name}: ${JSON.stringify(r.states)}`)
        }
      }

      // --- the store: the same blocks, nothing charged, one join and one publication per file
      const store = await openStore(`sqlite:${path.join(l.dir, 'aso.db')}`)
      let blocksInStore: { name: string; state: string; attempts: number }[]
      try {
        const raw = keepNative(new Database(path.join(l.dir, 'aso.db'), { readonly: true }))
        try {
          blocksInStore = keepNative(
            raw.prepare('select name, state, attempts from publication_blocks'),
          ).all() as typeof blocksInStore
        } finally {
          raw.close()
        }
        for (const b of blocksInStore) {
          if (b.state !== 'PUBLISHED' || b.attempts !== 0)
            problems.push(`store block ${b.name}: ${b.state}, ${b.attempts} attempts charged`)
        }
        const records = await store.getMany(ids)
        expect(records).toHaveLength(FILES)
        for (const rec of records) {
          const bad = (what: string) => problems.push(`${rec.id} (${rec.destinationLfn}): ${what}`)
          if (rec.state !== 'DONE' || rec.attempt !== 1) bad(`${rec.state}, attempt ${rec.attempt}`)
          if (rec.publicationState !== 'PUBLISHED') bad(`publication ${rec.publicationState}`)
          const inRucioBlock = blockOfFile.get(rec.destinationLfn)
          if (rec.blockName !== inRucioBlock)
            bad(`in block ${rec.blockName} in the store, ${inRucioBlock} in Rucio`)
          const reasons = (await store.history(rec.id)).map((e) => e.reason)
          const joined = reasons.filter((r) => r.startsWith('publication: joined block '))
          const published = reasons.filter((r) => r.startsWith('publication: published in block '))
          if (joined.length !== 1 || joined[0] !== `publication: joined block ${rec.blockName}`)
            bad(`joined: ${JSON.stringify(joined)}`)
          if (published.length !== 1 || published[0] !== `publication: published in block ${rec.blockName}`)
            bad(`published: ${JSON.stringify(published)}`)
        }
      } finally {
        await store.close()
      }
      expect(blocksInStore.map((b) => b.name).sort()).toEqual(blocksInContainer.map((b) => b.name).sort())
      expect(problems.slice(0, 30), `${problems.length} problems`).toEqual([])
      expect(lives.filter((p) => p.killedAt !== null)).toHaveLength(KILLS)

      const midCall = kills.filter((k) => k.stage > 0).length
      console.log(
        `publication crash run: ${FILES} files in ${blocksInStore.length} blocks, published in ${seconds.toFixed(1)} s ` +
          `from the first aso serve (after ${((start - setupStart) / 1000).toFixed(1)} s writing and injecting); ` +
          `${KILLS} kills, ${midCall} with a block half-registered in Rucio by that life; at each kill: ` +
          kills
            .map(
              (k) =>
                `${k.startedBlocks} blocks started, ${k.publishing} PUBLISHING, furthest ${STAGES[k.stage]} (aimed at ${STAGES[k.target]})`,
            )
            .join('; '),
      )
      // every kill was during publication (blocks PUBLISHING), most of them with a catalog call seen half done
      expect(
        kills.filter((k) => k.publishing === 0),
        'kills with no block PUBLISHING',
      ).toEqual([])
      expect(midCall, JSON.stringify(kills)).toBeGreaterThanOrEqual(3)
    }, 400_000)
  },
)
