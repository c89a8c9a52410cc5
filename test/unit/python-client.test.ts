/**
 * The Python client's unit tests (clients/python/test_aso_client.py, run by /usr/bin/python3), and what it must
 * share with the Node side: the credential discovery order (the same answers on the same files) and the webhook
 * signatures ASO makes (the project's signer and the Standard Webhooks reference library).
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { Webhook } from 'standardwebhooks'
import { beforeAll, describe, expect, it } from 'vitest'
import { discoverCredential } from '../../src/client/discovery.js'
import { webhookHeaders, webhookKey } from '../../src/domain/webhook-signature.js'

const PYTHON = '/usr/bin/python3'
const DIR = path.resolve('clients/python')
const hasPython = existsSync(PYTHON)
if (!hasPython) process.stdout.write(`python-client unit tests skipped: ${PYTHON} is missing\n`)

const execFileAsync = promisify(execFile)

/** Runs Python code with aso_client importable; `input` is JSON on its standard input. */
async function python(code: string, input: unknown): Promise<unknown> {
  const child = execFileAsync(PYTHON, ['-B', '-c', `import json, sys\nimport aso_client\n${code}`], {
    cwd: DIR,
    env: { PATH: '/usr/bin:/bin', PYTHONPATH: DIR },
  })
  child.child.stdin!.end(JSON.stringify(input))
  const { stdout } = await child
  return JSON.parse(stdout)
}

describe.skipIf(!hasPython)('the Python client', () => {
  it('passes its own unit tests (durations, discovery, webhooks, exit codes, Python 3.6 syntax, stdlib only)', async () => {
    const r = await execFileAsync(PYTHON, ['-B', '-m', 'unittest', 'test_aso_client'], {
      cwd: DIR,
      env: { PATH: '/usr/bin:/bin' },
    }).catch((e: { stderr?: string; code?: number }) => e)
    expect((r as { code?: number }).code ?? 0, (r as { stderr?: string }).stderr).toBe(0)
    expect((r as { stderr: string }).stderr).toMatch(/^OK/m)
  })

  describe('finds the same credential as the Node client', () => {
    const UID = 4242
    let root: string
    beforeAll(async () => {
      root = await mkdtemp(path.join(tmpdir(), 'aso-py-discovery-'))
    })

    /** Each case: files to write (relative to its own directory) and the environment. */
    const cases: { name: string; files: Record<string, string>; env: Record<string, string> }[] = [
      { name: 'nothing', files: {}, env: {} },
      { name: 'only ~/.globus', files: { 'home/.globus/usercert.pem': 'C' }, env: {} },
      {
        name: 'cert env over ~/.globus',
        files: { 'home/.globus/usercert.pem': 'C' },
        env: { X509_USER_KEY: '/k' },
      },
      {
        name: 'the /tmp proxy over the certificate',
        files: { 'tmp/x509up_u4242': 'P', 'home/.globus/usercert.pem': 'C' },
        env: { X509_USER_CERT: '/c' },
      },
      {
        name: 'X509_USER_PROXY over the /tmp proxy',
        files: { 'tmp/x509up_u4242': 'P' },
        env: { X509_USER_PROXY: '/proxy' },
      },
      {
        name: 'an empty /tmp token: the proxy',
        files: { 'tmp/bt_u4242': ' \n', 'tmp/x509up_u4242': 'P' },
        env: {},
      },
      {
        name: 'the /tmp token over the proxy',
        files: { 'tmp/bt_u4242': 'T1\n' },
        env: { X509_USER_PROXY: '/p' },
      },
      {
        name: 'XDG over /tmp',
        files: { 'run/bt_u4242': 'T2', 'tmp/bt_u4242': 'T1' },
        env: { XDG_RUNTIME_DIR: '@/run' },
      },
      {
        name: 'a missing BEARER_TOKEN_FILE: XDG',
        files: { 'run/bt_u4242': 'T2' },
        env: { XDG_RUNTIME_DIR: '@/run', BEARER_TOKEN_FILE: '@/none' },
      },
      {
        name: 'BEARER_TOKEN over all',
        files: { token: 'T3', 'run/bt_u4242': 'T2' },
        env: { BEARER_TOKEN: ' T4 ', BEARER_TOKEN_FILE: '@/token', XDG_RUNTIME_DIR: '@/run' },
      },
    ]

    it('in every case (one Python run for all)', async () => {
      const inputs = []
      const node = []
      for (const { name, files, env: rawEnv } of cases) {
        const dir = path.join(root, name.replace(/\W+/g, '-'))
        for (const sub of ['home/.globus', 'tmp', 'run'])
          await mkdir(path.join(dir, sub), { recursive: true })
        for (const [f, text] of Object.entries(files)) await writeFile(path.join(dir, f), text)
        const env = Object.fromEntries(Object.entries(rawEnv).map(([k, v]) => [k, v.replace(/^@/, dir)]))
        const where = { home: path.join(dir, 'home'), tmp: path.join(dir, 'tmp') }
        inputs.push({ name, env, ...where })
        node.push({
          name,
          found: await discoverCredential({ env, uid: UID, home: where.home, tmpDir: where.tmp }).then(
            (c) => c as unknown,
            (e: Error) => ({ error: e.message }),
          ),
        })
      }
      const py = await python(
        `out = []
for a in json.load(sys.stdin):
    try:
        r = aso_client.discover_credential(env=a['env'], uid=${UID}, home=a['home'], tmp_dir=a['tmp'])
    except aso_client.AsoError as e:
        r = {'error': e.message}
    out.append({'name': a['name'], 'found': r})
print(json.dumps(out))`,
        inputs,
      )
      expect(py).toEqual(node)
      expect(node.map((n) => (n.found as { from?: string }).from ?? 'error')).toEqual([
        'error',
        '~/.globus',
        '$X509_USER_CERT/$X509_USER_KEY',
        '/tmp/x509up_u<uid>',
        '$X509_USER_PROXY',
        '/tmp/x509up_u<uid>',
        '/tmp/bt_u<uid>',
        '$XDG_RUNTIME_DIR/bt_u<uid>',
        '$XDG_RUNTIME_DIR/bt_u<uid>',
        '$BEARER_TOKEN',
      ])
    })
  })

  describe('verifies what ASO signs', () => {
    const body = '{"type":"transfer.terminal","id":"abc","lfn":"/store/user/é"}'
    /** Verifies each message in one Python run: its payload, or why it was refused. */
    const verifyAll = (messages: { secret: string; headers: Record<string, string>; body: string }[]) =>
      python(
        `out = []
for a in json.load(sys.stdin):
    try:
        out.append({'payload': aso_client.verify_webhook(a['secret'], a['headers'], a['body'].encode('utf-8'))})
    except aso_client.WebhookVerificationError as e:
        out.append({'refused': str(e)})
print(json.dumps(out))`,
        messages,
      )

    it('from the project signer (whsec_ and raw secrets) and the Standard Webhooks reference library', async () => {
      const whsec = `whsec_${Buffer.from('k'.repeat(32)).toString('base64')}`
      const raw = 'päss-wörd-0123456789'
      const ours = (secret: string) => webhookHeaders(webhookKey(secret, 'test'), 'msg_1_a', Date.now(), body)
      const secret = `whsec_${Buffer.from('s'.repeat(24)).toString('base64')}`
      const hook = new Webhook(secret)
      const theirs = (at: Date) => ({
        'webhook-id': 'msg_2',
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': hook.sign('msg_2', at, body),
      })
      const results = await verifyAll([
        { secret: whsec, headers: ours(whsec), body },
        { secret: raw, headers: ours(raw), body },
        { secret: whsec, headers: ours(whsec), body: body.replace('abc', 'abd') },
        { secret: raw, headers: ours(whsec), body },
        { secret, headers: theirs(new Date()), body },
        { secret, headers: theirs(new Date(Date.now() - 10 * 60_000)), body },
      ])
      const payload = { payload: JSON.parse(body) }
      expect(results).toEqual([
        payload,
        payload,
        { refused: 'no matching signature' },
        { refused: 'no matching signature' },
        payload,
        { refused: expect.stringMatching(/too old/) },
      ])
    })
  })
})
