import { createHmac } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { signatureOf } from '../../src/agent/notifier.js'
import { parseListen } from '../../src/api/server.js'
import { loadConfig, parseConfig } from '../../src/config/load.js'
import { callbackUrlProblem, taskCallbackProblem } from '../../src/domain/callbacks.js'

describe('api: configuration', () => {
  it('has defaults: loopback 8443, no TLS, no issuers, callbacks off', () => {
    const { api } = parseConfig({})
    expect(api.listen).toBe('127.0.0.1:8443')
    expect(api.tls).toBeUndefined()
    expect(api.tokens.issuers).toEqual([])
    expect(api.callbacks).toMatchObject({ allowHosts: [], maxAttempts: 20, timeout: 10_000 })
  })

  it('names the path of every error, and wants a secret once callbacks are allowed', () => {
    expect(() => parseConfig({ api: { listen: 'localhost' } })).toThrow(/api\.listen: must be HOST:PORT/)
    expect(() => parseConfig({ api: { callbacks: { allowHosts: ['hooks.example.org'] } } })).toThrow(
      /api\.callbacks: allowHosts is set but there is no secret/,
    )
    expect(() => parseConfig({ api: { tls: { cert: 'c.pem' } } })).toThrow(/api\.tls\.key/)
    expect(() => parseConfig({ api: { tokens: { issuers: [{ issuer: 'x' }] } } })).toThrow(
      /api\.tokens\.issuers\.0\.jwks/,
    )
  })

  it('resolves its files against aso.yaml, leaving JWKS URLs alone', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'aso-api-cfg-'))
    await writeFile(
      path.join(dir, 'aso.yaml'),
      [
        'api:',
        '  tls: { cert: pki/host.pem, key: pki/hostkey.pem, caDir: pki/certificates }',
        '  tokens:',
        '    issuers:',
        '      - { issuer: "https://a/", jwks: keys/a.json }',
        '      - { issuer: "https://b/", jwks: "https://b/jwks" }',
        '  callbacks: { allowHosts: [".example.org"], secretFile: secret.txt }',
      ].join('\n'),
    )
    const { api } = loadConfig({ path: path.join(dir, 'aso.yaml'), env: {} }).config
    expect(api.tls).toEqual({
      cert: path.join(dir, 'pki/host.pem'),
      key: path.join(dir, 'pki/hostkey.pem'),
      caDir: path.join(dir, 'pki/certificates'),
    })
    expect(api.tokens.issuers.map((i) => i.jwks)).toEqual([path.join(dir, 'keys/a.json'), 'https://b/jwks'])
    expect(api.tokens.issuers[0]!.usernameClaim).toBe('preferred_username')
    expect(api.callbacks.secretFile).toBe(path.join(dir, 'secret.txt'))
  })
})

describe('callback URLs', () => {
  it('allows exact hosts and domain suffixes only, and says how to get one allowed', () => {
    const allow = ['hooks.cern.ch', '.example.org', '127.0.0.1']
    expect(callbackUrlProblem('https://hooks.cern.ch/x', allow)).toBeNull()
    expect(callbackUrlProblem('https://a.b.example.org:8443/x', allow)).toBeNull()
    expect(callbackUrlProblem('http://127.0.0.1:9/x', allow)).toBeNull()
    expect(callbackUrlProblem('https://example.org.evil.net/x', allow)).toMatch(
      /host "example\.org\.evil\.net" is not on the callback allow-list .*api\.callbacks\.allowHosts/,
    )
    expect(callbackUrlProblem('https://hooks.cern.ch.evil/x', allow)).toMatch(
      /not on the callback allow-list/,
    )
    expect(callbackUrlProblem('https://x/', [])).toMatch(/callbacks are not enabled/)
  })

  it('keeps one callback URL per task', () => {
    expect(taskCallbackProblem('t', 'https://a/x', undefined)).toBeNull()
    expect(taskCallbackProblem('t', 'https://a/x', 'https://a/x')).toBeNull()
    expect(taskCallbackProblem('t', null, 'https://a/x')).toMatch(
      /task "t" already has "https:\/\/a\/x", this file has no callbackUrl/,
    )
    expect(taskCallbackProblem('t', 'https://a/y', null)).toMatch(/already has no callbackUrl/)
  })

  it('signs a body as sha256=<HMAC-SHA256 hex>', () => {
    const body = '{"id":"x"}'
    expect(signatureOf('k'.repeat(16), body)).toBe(
      `sha256=${createHmac('sha256', 'k'.repeat(16)).update(body).digest('hex')}`,
    )
  })
})

describe('--listen', () => {
  it('takes HOST:PORT and bracketed IPv6, and says what it wants otherwise', () => {
    expect(parseListen('127.0.0.1:8443')).toEqual({ host: '127.0.0.1', port: 8443 })
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 })
    expect(parseListen('aso.example.org:443')).toEqual({ host: 'aso.example.org', port: 443 })
    expect(() => parseListen('8443')).toThrow(/write HOST:PORT/)
    expect(() => parseListen('h:70000')).toThrow(/write HOST:PORT/)
  })
})
