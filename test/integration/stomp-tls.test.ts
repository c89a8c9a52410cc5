/**
 * STOMP over TLS against a real broker (ActiveMQ with SSL connectors made from the test PKI), on both sides:
 * the fts3 engine's receiver and the FTS3 double's publisher, through src/stomp. A good CA directory: messages
 * arrive; another CA, another host name, a broker wanting a client certificate, a plain port: a clear error
 * and nothing in clear on the wire, never a fallback to plain. The double's command line takes the same
 * settings as flags or from aso.yaml.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runFts3SimCli } from '../../packages/fts3-sim/src/cli.js'
import { startStompPublisher } from '../../packages/fts3-sim/src/stomp-publisher.js'
import type { FileOutcome } from '../../src/domain/outcome.js'
import { CompletionReceiver } from '../../src/engines/fts3/stomp-receiver.js'
import { type StompSettings, stompTarget } from '../../src/stomp/index.js'
import { makeTestPki, openssl, type TestPki, type UserCert } from '../support/pki.js'
import { BROKER_LOGIN, requireActivemq, type StompBroker, startStompBroker } from '../support/stomp-broker.js'

const TOPIC = 'transfer.fts_monitoring_complete'
const INSTANCE = 'tls-test'

let dir: string
let pki: TestPki
let broker: StompBroker
let alice: UserCert
/** a CA directory holding only a CA that did not issue the broker's certificate */
let foreignCaDir: string
const closers: (() => Promise<unknown>)[] = []

beforeAll(async () => {
  requireActivemq()
  dir = await mkdtemp(path.join(os.tmpdir(), 'aso-stomp-tls-'))
  pki = await makeTestPki(path.join(dir, 'pki'))
  ;[broker, alice] = await Promise.all([startStompBroker({ tls: pki }), pki.userCert('alice')])
  const foreign = await pki.foreignCa()
  foreignCaDir = path.join(dir, 'foreign-ca')
  await mkdir(foreignCaDir)
  await copyFile(foreign.certPath, path.join(foreignCaDir, 'foreign.pem'))
}, 120_000)

afterAll(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined)
  await broker?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

let serial = 0
/** A completion message of ours (an Ok), as the double publishes it, and the transfer id it carries. */
function okMessage(): { body: Record<string, unknown>; transferId: string } {
  const transferId = (++serial).toString(16).padStart(32, '0')
  return {
    transferId,
    body: {
      job_id: `job-${serial}`,
      file_id: serial,
      vo: 'cms',
      t_final_transfer_state: 'Ok',
      file_metadata: { transfer: transferId, attempt: 1 },
      job_metadata: { issuer: 'ASO', instance: INSTANCE, user: 'alice' },
      file_size: 10,
    },
  }
}

/**
 * Publishes messages of ours until the receiver hands one over: a topic keeps nothing for a subscription the
 * broker has not registered yet, and the receiver's CONNECTED comes before its SUBSCRIBE is in place.
 */
async function publishUntilHeard(
  pub: ReturnType<typeof startStompPublisher>,
  outcomes: FileOutcome[],
): Promise<{ body: Record<string, unknown>; transferId: string }> {
  const deadline = Date.now() + 20_000
  for (;;) {
    const m = okMessage()
    pub.publish(m.body, 'cms')
    const until = Date.now() + 1000
    while (Date.now() < until) {
      if (outcomes.some((o) => o.transferId === m.transferId)) return m
      await new Promise((r) => setTimeout(r, 25))
    }
    if (Date.now() > deadline)
      throw new Error(`no message heard; ${pub.pending()} not acknowledged by the broker`)
  }
}

interface Listening {
  receiver: CompletionReceiver
  outcomes: FileOutcome[]
  logs: string[]
}

/** The engine's receiver on `settings`, started; what it hands over and what it logs are kept. */
function listen(settings: StompSettings): Listening {
  const outcomes: FileOutcome[] = []
  const logs: string[] = []
  const receiver = new CompletionReceiver({
    target: stompTarget(settings),
    topic: TOPIC,
    filter: { instance: INSTANCE },
    onOutcome: (o) => outcomes.push(o),
    log: (level, message) => logs.push(`${level}: ${message}`),
  })
  receiver.start()
  closers.push(() => receiver.close())
  return { receiver, outcomes, logs }
}

/** The double's publisher on `settings`; the problems it reports are kept. */
function publisher(settings: StompSettings) {
  const problems: string[] = []
  const pub = startStompPublisher({ ...settings, topic: TOPIC, onProblem: (p) => problems.push(p) })
  closers.push(() => pub.close())
  return { pub, problems }
}

describe('STOMP over TLS, the receiver and the double', () => {
  it('with the CA directory of the broker: the double publishes over TLS and the receiver hears it', async () => {
    const { receiver, outcomes, logs } = listen({ url: broker.sslUrl!, caDir: pki.caDir })
    const { pub, problems } = publisher({ url: broker.sslUrl!, caDir: pki.caDir })
    await until(() => receiver.connected, 'the receiver subscribed')
    const m = await publishUntilHeard(pub, outcomes)
    expect(outcomes.find((o) => o.transferId === m.transferId)).toMatchObject({
      result: 'done',
      jobId: m.body.job_id,
      method: 'fts3',
    })
    await until(() => pub.pending() === 0, 'the broker acknowledged')
    expect(problems).toEqual([])
    expect(receiver.problem).toBeNull()
    expect(logs).toEqual([`info: subscribed to /topic/${TOPIC} at ${broker.sslUrl}`])
  })

  it('a broker certificate of another CA: refused with the CA directory named, retried, nothing received', async () => {
    const { receiver, outcomes, logs } = listen({ url: broker.sslUrl!, caDir: foreignCaDir })
    await until(() => logs.length > 0, 'the receiver reports the problem')
    const expected = new RegExp(
      `^warn: STOMP over TLS to ${broker.sslUrl!.replace(/[+.]/g, '\\$&')}: the broker's certificate is not issued by a CA of ${foreignCaDir} \\(SELF_SIGNED_CERT_IN_CHAIN: .*\\); put its CA there or set fts3\\.stomp\\.caDir; retrying`,
    )
    expect(logs[0]).toMatch(expected)
    expect(receiver.problem).toMatch(/is not issued by a CA of/)
    // the double's side says the same, in its own words
    const { pub, problems } = publisher({ url: broker.sslUrl!, caDir: foreignCaDir })
    pub.publish(okMessage().body, 'cms')
    await until(() => problems.length > 0, 'the publisher reports the problem')
    expect(problems[0]).toMatch(
      /the broker's certificate is not issued by a CA of .*; put its CA there or set stomp\.caDir$/,
    )
    // retried every second, reported once while the reason stays the same
    await new Promise((r) => setTimeout(r, 2500))
    expect(receiver.connected).toBe(false)
    expect(logs).toHaveLength(1)
    expect(pub.pending()).toBe(1)
    expect(outcomes).toEqual([])
  })

  it('a broker certificate for another host name: refused, saying so', async () => {
    // a server certificate of the test CA, for broker.example.org only
    const base = path.join(dir, 'other-host')
    await openssl([
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${base}.key`,
      '-out',
      `${base}.csr`,
      '-subj',
      '/CN=broker.example.org',
    ])
    await writeFile(`${base}.ext`, 'subjectAltName=DNS:broker.example.org\nextendedKeyUsage=serverAuth\n')
    await openssl([
      'x509',
      '-req',
      '-in',
      `${base}.csr`,
      '-CA',
      pki.ca.certPath,
      '-CAkey',
      pki.ca.keyPath,
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${base}.ext`,
      '-out',
      `${base}.pem`,
    ])
    const server = tls.createServer(
      { cert: await readFile(`${base}.pem`), key: await readFile(`${base}.key`) },
      (s) => s.destroy(),
    )
    server.on('tlsClientError', () => undefined)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    closers.push(() => new Promise((resolve) => server.close(resolve)))
    const port = (server.address() as net.AddressInfo).port
    const { receiver, logs } = listen({ url: `stomp+ssl://127.0.0.1:${port}`, caDir: pki.caDir })
    await until(() => logs.length > 0, 'the receiver reports the problem')
    expect(logs[0]).toMatch(
      /^warn: STOMP over TLS to stomp\+ssl:\/\/127\.0\.0\.1:\d+: the broker's certificate is not for 127\.0\.0\.1 \(.*\); use the host name the certificate names in fts3\.stomp\.url/,
    )
    expect(receiver.connected).toBe(false)
  })

  it('a port that does not speak TLS: the handshake fails, and not one byte of STOMP went out in clear', async () => {
    const received: Buffer[] = []
    // a plain STOMP broker's answer to whatever comes
    const server = net.createServer((s) => {
      s.on('data', (d) => {
        received.push(d)
        s.end('CONNECTED\nversion:1.2\n\n\0')
      })
      s.on('error', () => undefined)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    closers.push(() => new Promise((resolve) => server.close(resolve)))
    const port = (server.address() as net.AddressInfo).port
    const passwordFile = path.join(dir, 'broker-pass')
    await writeFile(passwordFile, 'broker-secret\n')
    const { receiver, logs } = listen({
      url: `stomp+ssl://127.0.0.1:${port}`,
      caDir: pki.caDir,
      username: 'aso',
      passwordFile,
    })
    await until(() => logs.length > 0, 'the receiver reports the problem')
    expect(logs[0]).toMatch(/the broker did not answer in TLS: is \d+ its plain STOMP port\?/)
    expect(receiver.connected).toBe(false)
    const bytes = Buffer.concat(received)
    expect(bytes[0]).toBe(0x16) // a TLS handshake record: the ClientHello
    expect(bytes.includes('CONNECT')).toBe(false)
    expect(bytes.includes('broker-secret')).toBe(false)
  })

  it('a broker that requires a client certificate: refused without one (the error says which setting), heard with one', async () => {
    const without = listen({ url: broker.mtlsUrl!, caDir: pki.caDir })
    await until(() => without.logs.length > 0, 'the receiver reports the problem')
    expect(without.logs[0]).toMatch(
      /STOMP over TLS to stomp\+ssl:\/\/127\.0\.0\.1:\d+: the broker (refused the TLS handshake|closed the connection during the TLS handshake) .*client certificate.*fts3\.stomp\.cert.*fts3\.stomp\.key/,
    )
    const foreign = await pki.foreignCa()
    const stranger = listen({
      url: broker.mtlsUrl!,
      caDir: pki.caDir,
      cert: foreign.user.certPath,
      key: foreign.user.keyPath,
    })
    await until(() => stranger.logs.length > 0, 'the stranger is refused')
    expect(stranger.logs[0]).toMatch(/does it trust|check that it trusts the CA of/)

    const withCert = listen({
      url: broker.mtlsUrl!,
      caDir: pki.caDir,
      cert: alice.certPath,
      key: alice.keyPath,
    })
    const { pub, problems } = publisher({
      url: broker.mtlsUrl!,
      caDir: pki.caDir,
      cert: alice.certPath,
      key: alice.keyPath,
    })
    await until(() => withCert.receiver.connected, 'subscribed with a client certificate')
    const m = await publishUntilHeard(pub, withCert.outcomes)
    expect(withCert.outcomes.find((o) => o.transferId === m.transferId)).toMatchObject({ result: 'done' })
    expect(problems).toEqual([])
    expect(without.outcomes).toEqual([])
    expect(stranger.outcomes).toEqual([])
  })
})

describe('the broker login over TLS', () => {
  it("username and passwordFile log in; a wrong password is reported once with the broker's words, not once a second", async () => {
    const good = path.join(dir, 'good-pass')
    const bad = path.join(dir, 'bad-pass')
    await writeFile(good, `${BROKER_LOGIN.password}\n`)
    await writeFile(bad, 'not-the-password\n')
    const login = { url: broker.sslUrl!, caDir: pki.caDir, username: BROKER_LOGIN.username }
    const ok = listen({ ...login, passwordFile: good })
    const { pub, problems } = publisher({ ...login, passwordFile: good })
    await until(() => ok.receiver.connected, 'logged in')
    await publishUntilHeard(pub, ok.outcomes)
    expect(problems).toEqual([])

    const refused = listen({ ...login, passwordFile: bad })
    await until(() => refused.logs.length > 0, 'the refusal reported')
    expect(refused.logs[0]).toMatch(
      /^warn: STOMP over TLS to stomp\+ssl:\/\/127\.0\.0\.1:\d+: the broker answered ERROR: .*(password|credentials|not authenticated).*; retrying/i,
    )
    await new Promise((r) => setTimeout(r, 2500))
    expect(refused.receiver.connected).toBe(false)
    expect(refused.logs).toHaveLength(1)
  })
})

describe("the double's command line", () => {
  it('takes the broker settings as flags; a certificate without its key refuses to start', async () => {
    const err: string[] = []
    const code = await runFts3SimCli(
      [
        '--listen',
        '127.0.0.1:0',
        '--insecure-dn',
        '/CN=x',
        '--stomp',
        broker.sslUrl!,
        '--stomp-ca-dir',
        pki.caDir,
        '--stomp-cert',
        alice.certPath,
      ],
      { out: () => undefined, err: (l) => err.push(l), stop: Promise.resolve() },
    )
    expect(code).toBe(3)
    expect(err[0]).toMatch(
      /cannot start: --stomp-key \(fts3\.stomp\.key\): missing: --stomp-cert \(fts3\.stomp\.cert\) is given/,
    )
  })

  it('reads fts3.stomp of aso.yaml: a stomp+ssl:// broker with another CA is reported, the double runs on', async () => {
    const d = path.join(dir, 'sim-config')
    await mkdir(d)
    await writeFile(
      path.join(d, 'aso.yaml'),
      JSON.stringify({
        fts3: {
          servers: [{ url: 'https://127.0.0.1:8446' }],
          stomp: { url: broker.sslUrl, caDir: path.relative(d, foreignCaDir) },
        },
      }),
    )
    const err: string[] = []
    const out: string[] = []
    let stop!: () => void
    const run = runFts3SimCli(
      ['--listen', '127.0.0.1:0', '--insecure-dn', '/CN=x', '--config', path.join(d, 'aso.yaml')],
      { out: (l) => out.push(l), err: (l) => err.push(l), stop: new Promise<void>((r) => (stop = r)) },
    )
    await until(() => err.length > 0, 'the problem reported')
    expect(out[0]).toMatch(/FTS3 test double listening on/)
    expect(err[0]).toMatch(
      new RegExp(
        `^aso-fts3-sim: STOMP over TLS to .*: the broker's certificate is not issued by a CA of ${foreignCaDir} .*set --stomp-ca-dir \\(fts3\\.stomp\\.caDir\\); messages wait until the broker has them$`,
      ),
    )
    stop()
    expect(await run).toBe(0)
  })
})
