/**
 * The Python client for jobs (clients/python/aso_client.py), run by Debian's /usr/bin/python3 against a real
 * `aso serve` (API and agent, built dist/) over mTLS with a test CA: a job-like post-job script writes 100
 * outputs on a file:// site, injects them and waits (exit 0); a rejected line exits 1 with its reason; a wrong
 * CA exits 3 naming X509_CERT_DIR; a bearer token found by WLCG discovery comes before the proxy.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import path from 'node:path'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AsoClient } from '../../src/client/client.js'
import { loadClientAuth } from '../../src/client/credentials.js'
import { openStore } from '../../src/store/open.js'
import { type FileLab, makeFileLab } from '../support/file-sites.js'
import { makeTestPki, openssl, type ProxyCert, type TestPki } from '../support/pki.js'

const PYTHON = '/usr/bin/python3'
const CLI = path.resolve('dist/cli/main.js')
const CLIENT_DIR = path.resolve('clients/python')
const CLIENT = path.join(CLIENT_DIR, 'aso_client.py')
const ISSUER = 'https://iam.test.example/'
const FILES = 100
/** T2_IT_Bari and T2_CH_CERN: the README's examples, run as written */
const SITES = ['SITE_A', 'SITE_B', 'SITE_C', 'T2_IT_Bari', 'T2_CH_CERN']
/** paused for the whole run: its files stay NEW */
const HELD = 'SITE_A->SITE_C'

const hasPython = existsSync(PYTHON)
const hasCurl = existsSync('/usr/bin/curl')

/** The README's section for jobs: its Python post-job step and its curl one, as written. */
async function readmeExamples(): Promise<{ python: string; curl: string }> {
  const readme = await readFile('README.md', 'utf8')
  const start = readme.indexOf('## From a job: Python and curl')
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1))
  const python = /```python\n([\s\S]*?)```/.exec(section)?.[1]
  const curl = /```sh\n(#!\/bin\/sh\n# post-job with curl only[\s\S]*?)```/.exec(section)?.[1]
  if (start < 0 || !python || !curl)
    throw new Error('README.md: the section "From a job: Python and curl" lost its examples')
  return { python, curl }
}
if (!hasPython)
  process.stdout.write(`python-client e2e skipped: ${PYTHON} is missing (apt-get install python3)\n`)

interface Run {
  code: number
  stdout: string
  stderr: string
  ms: number
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<Run> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - started }))
  })
}

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** A job's post-job step: its outputs in the site's temporary area are handed to ASO, then waited for. */
const JOB_SCRIPT = `#!/bin/bash
set -u
out="$SITE_TEMP"
mkdir -p "$out"
for i in $(seq 1 ${FILES}); do head -c $((500 + i)) /dev/urandom > "$out/out_$i.root"; done
/usr/bin/python3 - "$out" > requests.jsonl <<'PY'
import json, os, sys
sys.path.insert(0, os.environ['ASO_CLIENT_DIR'])
import aso_client
out = sys.argv[1]
for name in sorted(os.listdir(out)):
    path = os.path.join(out, name)
    print(json.dumps({
        'user': 'alice', 'task': os.environ['TASK'], 'jobId': name.split('.')[0], 'jobRetry': 0,
        'source': 'SITE_A', 'sourceLfn': '/store/temp/user/alice.abc/' + name,
        'destination': 'SITE_B', 'destinationLfn': '/store/user/alice/' + name,
        'size': os.path.getsize(path), 'checksums': {'adler32': aso_client.adler32_of(path)}}))
PY
/usr/bin/python3 "$ASO_CLIENT_DIR/aso_client.py" inject requests.jsonl > inject.log || exit $?
exec /usr/bin/python3 "$ASO_CLIENT_DIR/aso_client.py" wait --task "$TASK" --timeout 2m
`

describe.skipIf(!hasPython)('the Python client against aso serve over mTLS', () => {
  let lab: FileLab
  let pki: TestPki
  let proxy: ProxyCert
  let serve: ChildProcess
  let serveLog = ''
  let url: string
  let home: string
  let signToken: (claims: Record<string, unknown>) => Promise<string>
  /** a CA directory (with its hash link) of another CA than the server's */
  let wrong: string

  /** A job's environment: nothing of the test runner's, the proxy and CA directory as a worker node has them. */
  const jobEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    PATH: '/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    ASO_SERVER: url,
    X509_USER_PROXY: proxy.path,
    X509_CERT_DIR: pki.caDir,
    ASO_CLIENT_DIR: CLIENT_DIR,
    PYTHONDONTWRITEBYTECODE: '1',
    ...extra,
  })
  const py = (args: string[], extra: NodeJS.ProcessEnv = {}) => run(PYTHON, [CLIENT, ...args], jobEnv(extra))

  beforeAll(async () => {
    lab = await makeFileLab({ sites: SITES })
    pki = await makeTestPki(path.join(lab.dir, 'pki'))
    const alice = await pki.userCert('alice')
    proxy = await pki.proxy(alice)
    const foreign = await pki.foreignCa()
    wrong = path.join(lab.dir, 'wrong-certificates')
    await mkdir(wrong, { recursive: true })
    const hash = (await openssl(['x509', '-in', foreign.certPath, '-noout', '-subject_hash'])).trim()
    await writeFile(path.join(wrong, `${hash}.0`), foreign.certPem)
    home = path.join(lab.dir, 'home')
    await mkdir(home, { recursive: true })
    const pair = await generateKeyPair('ES256')
    const jwks = path.join(lab.dir, 'jwks.json')
    await writeFile(
      jwks,
      JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }),
    )
    signToken = (claims) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(ISSUER)
        .setAudience('aso')
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(pair.privateKey)
    await makeFileLab({
      dir: lab.dir,
      sites: SITES,
      config: {
        users: { alice: { dns: [alice.dn], groups: ['cms'] } },
        api: {
          tls: { cert: pki.host.certPath, key: pki.host.keyPath, caDir: pki.caDir },
          tokens: { issuers: [{ issuer: ISSUER, jwks, audience: 'aso' }] },
        },
      },
    })
    const port = await freePort()
    url = `https://127.0.0.1:${port}`
    serve = spawn(
      process.execPath,
      [CLI, '--config', lab.configPath, 'serve', '--listen', `127.0.0.1:${port}`, '--log-level', 'warn'],
      { env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    serve.stdout!.on('data', (d) => {
      serveLog += d
    })
    serve.stderr!.on('data', (d) => {
      serveLog += d
    })
    const client = new AsoClient(url, await loadClientAuth(url, { proxy: proxy.path, caDir: pki.caDir }))
    try {
      const until = Date.now() + 30_000
      for (;;) {
        try {
          await client.whoami()
          break
        } catch (e) {
          if (Date.now() > until || serve.exitCode !== null)
            throw new Error(`aso serve did not start: ${(e as Error).message}\n${serveLog}`)
          await new Promise((r) => setTimeout(r, 100))
        }
      }
    } finally {
      await client.close()
    }
    const store = await openStore(`sqlite:${path.join(lab.dir, 'aso.db')}`)
    await store.setLinkSetting(HELD, { paused: true }, 'test', Date.now())
    await store.close()
  })

  afterAll(async () => {
    if (serve && serve.exitCode === null) {
      const exited = new Promise((r) => serve.once('exit', r))
      serve.kill('SIGTERM')
      await exited
    }
  })

  it(`a post-job script injects ${FILES} files and waits for them: exit 0`, async () => {
    const work = path.join(lab.dir, 'job')
    await mkdir(work, { recursive: true })
    const script = path.join(work, 'post-job.sh')
    await writeFile(script, JOB_SCRIPT, { mode: 0o755 })
    const job = await run(
      '/bin/bash',
      [script],
      jobEnv({ TASK: 'py-job', SITE_TEMP: lab.path('SITE_A', '/store/temp/user/alice.abc') }),
      work,
    )
    process.stdout.write(`python client: post-job of ${FILES} files (inject + wait) took ${job.ms} ms\n`)
    expect(job.code, `${job.stdout}\n${job.stderr}\n${serveLog}`).toBe(0)
    expect(job.stdout).toMatch(new RegExp(`^task py-job: ${FILES} files, .*: DONE ${FILES}$`, 'm'))
    expect(await readdir(lab.path('SITE_B', '/store/user/alice'))).toHaveLength(FILES)

    const status = await py(['status', '--task', 'py-job', '--json'])
    expect(status.code, status.stderr).toBe(0)
    expect(JSON.parse(status.stdout)).toMatchObject({ total: FILES, states: { DONE: FILES } })
    const list = await py(['list', '--task', 'py-job', '--state', 'DONE', '--json'])
    expect(list.code, list.stderr).toBe(0)
    const records = list.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(records).toHaveLength(FILES)
    expect(records[0]).toMatchObject({ user: 'alice', task: 'py-job', state: 'DONE', destination: 'SITE_B' })
    const text = await py(['list', '--task', 'py-job', '--limit', '3'])
    expect(text.stdout.trim().split('\n')).toHaveLength(3)
    expect(text.stdout).toMatch(/^[0-9a-f]{32} DONE SITE_A->SITE_B \/store\/user\/alice\/out_\d+\.root$/m)
  }, 90_000)

  it('exits 1 with the reason of a rejected line, having stored the good one', async () => {
    const w = await lab.writeOutput('SITE_A', '/store/temp/user/alice.abc/one.root', 1234)
    const good = lab.request({
      user: 'alice',
      source: 'SITE_A',
      destination: 'SITE_B',
      name: 'one.root',
      ...w,
    })
    const file = path.join(lab.dir, 'mixed.jsonl')
    await writeFile(
      file,
      `${JSON.stringify(good)}\n${JSON.stringify({ ...good, destination: 'T9_NOWHERE' })}\n`,
    )
    const r = await py(['inject', file])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/^line 1: created [0-9a-f]{32}$/m)
    expect(r.stdout).toMatch(/^line 2: rejected: destination: unknown site "T9_NOWHERE"/m)
    expect(r.stderr).toMatch(/2 lines: 1 created, 0 unchanged, 0 superseded, 1 rejected/)
  })

  it('exits 3 naming X509_CERT_DIR when the CA directory does not hold the server’s CA', async () => {
    const r = await py(['status'], { X509_CERT_DIR: wrong })
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(
      /could not be verified against the CAs in .*wrong-certificates \(X509_CERT_DIR\)/,
    )
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    const missing = await py(['status'], { X509_CERT_DIR: path.join(lab.dir, 'nowhere') })
    expect([missing.code, missing.stderr]).toEqual([3, expect.stringMatching(/X509_CERT_DIR/)])
  })

  it('presents a bearer token found by WLCG discovery before the proxy', async () => {
    const tokenFile = path.join(lab.dir, 'bt')
    await writeFile(tokenFile, `${await signToken({ preferred_username: 'alice' })}\n`)
    const viaToken = await py(['whoami', '--json'], { BEARER_TOKEN_FILE: tokenFile })
    expect(viaToken.code, viaToken.stderr).toBe(0)
    expect(JSON.parse(viaToken.stdout)).toMatchObject({ name: 'alice', method: 'token' })
    const viaProxy = await py(['whoami', '--json'])
    expect(JSON.parse(viaProxy.stdout)).toMatchObject({ name: 'alice', method: 'certificate' })
  })

  it('exits 2 when the wait times out, and 3 for an unknown task', async () => {
    const w = await lab.writeOutput('SITE_A', '/store/temp/user/alice.abc/held.root', 100)
    const held = lab.request({
      user: 'alice',
      source: 'SITE_A',
      destination: 'SITE_C',
      name: 'held.root',
      task: 'py-held',
      ...w,
    })
    const file = path.join(lab.dir, 'held.jsonl')
    await writeFile(file, `${JSON.stringify(held)}\n`)
    expect((await py(['inject', file])).code).toBe(0)
    const t = await py(['wait', '--task', 'py-held', '--timeout', '1s'])
    expect(t.code, t.stderr).toBe(2)
    expect(t.stdout).toMatch(/^task py-held: 1 files, .*: NEW 1$/m)
    expect(t.stderr).toMatch(/timed out after 1s: 0 of 1 files of task py-held are terminal/)
    const unknown = await py(['wait', '--task', 'no-such-task', '--timeout', '1s'])
    expect(unknown.code).toBe(3)
    expect(unknown.stderr).toMatch(/^aso: /)
  })

  describe('the README examples, as written', () => {
    let examples: { python: string; curl: string }
    /** Writes `n` outputs of a job into `dir` and stages them out to T2_IT_Bari's temporary area. */
    const jobOutputs = async (dir: string, n: number, first: number) => {
      await mkdir(dir, { recursive: true })
      const requests: Record<string, unknown>[] = []
      for (let i = first; i < first + n; i++) {
        const name = `out_${i}.root`
        const lfn = `/store/temp/user/alice.7f3a/higgs/${name}`
        const w = await lab.writeOutput('T2_IT_Bari', lfn, 300 + i)
        await copyFile(lab.path('T2_IT_Bari', lfn), path.join(dir, name))
        requests.push({
          ...lab.request({ user: 'alice', source: 'T2_IT_Bari', destination: 'T2_CH_CERN', name, ...w }),
          sourceLfn: lfn,
          destinationLfn: `/store/user/alice/higgs/${name}`,
        })
      }
      return requests
    }
    beforeAll(async () => {
      examples = await readmeExamples()
    })

    it('the Python post-job step: exit 0 once its files are DONE', async () => {
      const dir = path.join(lab.dir, 'readme-py')
      await jobOutputs(dir, 5, 1)
      await writeFile(path.join(dir, 'post-job.py'), examples.python)
      // shipped with the job, beside its post-job step
      await copyFile(CLIENT, path.join(dir, 'aso_client.py'))
      const r = await run(PYTHON, ['post-job.py'], jobEnv({ TASK: 'readme-py', JOB_ID: '7' }), dir)
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0)
      expect(r.stdout.trim()).toBe("{'DONE': 5}")
    })

    it.skipIf(!hasCurl)(
      'the curl post-job step: exit 0, 1 for a rejected line, 3 for a wrong CA',
      async () => {
        const dir = path.join(lab.dir, 'readme-curl')
        const requests = await jobOutputs(dir, 5, 11)
        const script = path.join(dir, 'post-job.sh')
        await writeFile(script, examples.curl)
        const lines = (rs: Record<string, unknown>[]) =>
          rs.map((q) => JSON.stringify({ ...q, task: 'readme-curl' })).join('\n')
        await writeFile(path.join(dir, 'outputs.jsonl'), `${lines(requests)}\n`)
        const curl = (extra: NodeJS.ProcessEnv = {}) =>
          run('/bin/sh', [script], jobEnv({ TASK: 'readme-curl', ...extra }), dir)
        const ok = await curl()
        expect(ok.code, `${ok.stdout}\n${ok.stderr}`).toBe(0)
        expect(ok.stdout.trim()).toBe('"states":{"DONE":5}')

        await writeFile(
          path.join(dir, 'outputs.jsonl'),
          `${lines([{ ...requests[0]!, destination: 'T9_NOWHERE' }])}\n`,
        )
        const rejected = await curl()
        expect(rejected.code).toBe(1)
        expect(rejected.stderr).toMatch(/"status":"rejected".*unknown site \\"T9_NOWHERE\\"/)

        const wrongCa = await curl({ X509_CERT_DIR: wrong })
        expect(wrongCa.code).toBe(3)
        expect(wrongCa.stderr).toMatch(/SSL certificate problem/)
      },
    )
  })
})
