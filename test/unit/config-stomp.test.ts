/**
 * `fts3.stomp` of aso.yaml: plain or TLS brokers, the TLS files and the login, each error naming its field and
 * the fix; relative paths resolved against aso.yaml; the engine refuses to start with unusable TLS settings.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildEngines } from '../../src/cli/engines.js'
import { loadConfig, parseConfig } from '../../src/config/load.js'

const servers = [{ url: 'https://fts3.example.org:8446' }]
const stompOf = (stomp: Record<string, unknown>) => parseConfig({ fts3: { servers, stomp } }).fts3!.stomp!

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'aso-config-stomp-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('fts3.stomp', () => {
  it('takes plain (stomp://, tcp://) and TLS (stomp+ssl://, ssl://) URLs, user:password in the URL too', () => {
    for (const url of [
      'stomp://127.0.0.1:61613',
      'tcp://broker.example.org:61613',
      'stomp+ssl://broker.example.org:61123',
      'ssl://[::1]:61612',
      'stomp://aso:secret@127.0.0.1:61613',
      'stomp+ssl://broker.example.org',
    ]) {
      expect(stompOf({ url }).url).toBe(url)
    }
    expect(stompOf({ url: 'stomp://h:1' })).toEqual({
      url: 'stomp://h:1',
      topic: 'transfer.fts_monitoring_complete',
    })
    for (const url of ['http://h:1', 'stomp:h:1', 'stomp://h:1/topic/x', 'amqps://h:1']) {
      expect(() => stompOf({ url })).toThrow(
        /fts3\.stomp\.url: must be stomp:\/\/HOST:PORT, or stomp\+ssl:\/\/HOST:PORT for STOMP over TLS/,
      )
    }
  })

  it('the TLS and login fields, as the issue words them', () => {
    const s = stompOf({
      url: 'stomp+ssl://broker.example.org:61123',
      topic: 'transfer.fts_monitoring_complete',
      caDir: '/etc/grid-security/certificates',
      cert: '/etc/aso/hostcert.pem',
      key: '/etc/aso/hostkey.pem',
      username: 'aso',
      passwordFile: '/etc/aso/broker-pass',
      vo: 'cms',
    })
    expect(s).toMatchObject({ caDir: '/etc/grid-security/certificates', username: 'aso', vo: 'cms' })
  })

  it('errors name the field and the fix', () => {
    const tls = 'stomp+ssl://broker.example.org:61123'
    expect(() => stompOf({ url: tls, cert: 'c.pem' })).toThrow(
      /fts3\.stomp\.key: missing: a client certificate \(cert\) needs its private key \(key\) too; give both or neither/,
    )
    expect(() => stompOf({ url: tls, key: 'k.pem' })).toThrow(/fts3\.stomp\.cert: missing: a private key/)
    // asked for TLS with a plain URL: refused, not a plain connection
    expect(() => stompOf({ url: 'stomp://h:61613', caDir: '/etc/grid-security/certificates' })).toThrow(
      /fts3\.stomp\.caDir: caDir is for STOMP over TLS but the url is plain: use stomp\+ssl:\/\/HOST:PORT, or drop caDir/,
    )
    expect(() => stompOf({ url: 'stomp://u@h:1', username: 'v' })).toThrow(
      /fts3\.stomp\.username: the url names a user too/,
    )
    expect(() => stompOf({ url: 'stomp://u:p@h:1', passwordFile: 'p' })).toThrow(
      /fts3\.stomp\.passwordFile: the url holds a password too/,
    )
    expect(() => stompOf({ url: tls, passwordFile: 'p' })).toThrow(
      /fts3\.stomp\.passwordFile: a password needs a user: set username too/,
    )
    expect(() => stompOf({ url: tls, certificate: 'c.pem' })).toThrow(/unknown key\(s\) certificate/)
  })

  it('relative paths resolve against aso.yaml; caDir stays unset for the engine to default', async () => {
    await writeFile(
      path.join(dir, 'aso.yaml'),
      [
        'fts3:',
        '  servers: [{ url: "https://fts3.example.org:8446" }]',
        '  stomp:',
        '    url: stomp+ssl://broker.example.org:61123',
        '    caDir: certificates',
        '    cert: tls/hostcert.pem',
        '    key: /etc/aso/hostkey.pem',
        '    username: aso',
        '    passwordFile: broker-pass',
        '',
      ].join('\n'),
    )
    const { config } = loadConfig({ path: path.join(dir, 'aso.yaml'), env: {} })
    expect(config.fts3!.stomp).toEqual({
      url: 'stomp+ssl://broker.example.org:61123',
      topic: 'transfer.fts_monitoring_complete',
      caDir: path.join(dir, 'certificates'),
      cert: path.join(dir, 'tls/hostcert.pem'),
      key: '/etc/aso/hostkey.pem',
      username: 'aso',
      passwordFile: path.join(dir, 'broker-pass'),
    })
  })

  it('unusable TLS files: the engine refuses to start, naming the field (never a plain connection)', () => {
    const build = (stomp: Record<string, unknown>) =>
      buildEngines(parseConfig({ engine: 'fts3', fts3: { servers, proxyPath: '/p/{user}', stomp } }))
    expect(() => build({ url: 'stomp+ssl://h:61612', caDir: path.join(dir, 'nowhere') })).toThrow(
      /fts3\.stomp\.caDir: cannot read the CA directory .*nowhere \(ENOENT\): set fts3\.stomp\.caDir \(or X509_CERT_DIR\)/,
    )
    expect(() => build({ url: 'stomp+ssl://h:61612', caDir: dir })).toThrow(
      /fts3\.stomp\.caDir: the CA directory .* holds no CA certificate/,
    )
    expect(() => build({ url: 'stomp://aso@h:61613', passwordFile: path.join(dir, 'no-such-file') })).toThrow(
      /fts3\.stomp\.passwordFile: cannot read .*no-such-file \(ENOENT\)/,
    )
    // plain, no files: builds as before
    expect(build({ url: 'stomp://h:61613' }).engines.get('fts3')).toBeDefined()
  })
})
