/**
 * The client's credential discovery order (src/client/discovery.ts): explicit options, then a WLCG bearer
 * token, then the proxy, then the user certificate; every place in a temporary HOME and /tmp stand-in.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { loadClientAuth } from '../../src/client/credentials.js'
import { discoverCredential } from '../../src/client/discovery.js'
import { AsoError } from '../../src/domain/errors.js'
import { makeTestPki, openssl, type TestPki } from '../support/pki.js'

const UID = 4242

describe('client credential discovery', () => {
  let root: string
  let home: string
  let tmp: string
  let xdg: string
  const find = (env: NodeJS.ProcessEnv, o: Parameters<typeof discoverCredential>[0] = {}) =>
    discoverCredential({ env, uid: UID, home, tmpDir: tmp, ...o })

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'aso-discovery-'))
    home = join(root, 'home')
    tmp = join(root, 'tmp')
    xdg = join(root, 'run')
    for (const d of [join(home, '.globus'), tmp, xdg]) await mkdir(d, { recursive: true })
  })

  /** Every place filled: each step down the order is taken once the ones above are emptied. */
  it('goes down the order: options, $BEARER_TOKEN, $BEARER_TOKEN_FILE, XDG, /tmp token, proxy, certificate', async () => {
    await writeFile(join(home, '.globus', 'usercert.pem'), 'C')
    await writeFile(join(tmp, `x509up_u${UID}`), 'P')
    await writeFile(join(tmp, `bt_u${UID}`), 'tmp-token\n')
    await writeFile(join(xdg, `bt_u${UID}`), ' xdg-token ')
    await writeFile(join(root, 'token'), 'file-token')
    const env: NodeJS.ProcessEnv = {
      BEARER_TOKEN: 'env-token',
      BEARER_TOKEN_FILE: join(root, 'token'),
      XDG_RUNTIME_DIR: xdg,
    }
    expect(await find(env, { proxy: '/p' })).toEqual({ kind: 'proxy', path: '/p', from: '--proxy' })
    expect(await find(env, { cert: '/c', key: '/k', proxy: '/p' })).toMatchObject({
      kind: 'certificate',
      from: '--cert/--key',
    })
    expect(await find(env, { tokenFile: join(root, 'token'), proxy: '/p' })).toMatchObject({
      kind: 'token',
      token: 'file-token',
      from: '--token-file',
    })
    expect(await find(env)).toEqual({ kind: 'token', token: 'env-token', from: '$BEARER_TOKEN' })
    env.BEARER_TOKEN = '  '
    expect(await find(env)).toMatchObject({ token: 'file-token', from: '$BEARER_TOKEN_FILE' })
    env.BEARER_TOKEN_FILE = join(root, 'missing')
    expect(await find(env)).toMatchObject({ token: 'xdg-token', from: '$XDG_RUNTIME_DIR/bt_u<uid>' })
    delete env.XDG_RUNTIME_DIR
    expect(await find(env)).toMatchObject({ token: 'tmp-token', from: '/tmp/bt_u<uid>' })
    await writeFile(join(tmp, `bt_u${UID}`), '\n')
    expect(await find(env)).toEqual({
      kind: 'proxy',
      path: join(tmp, `x509up_u${UID}`),
      from: '/tmp/x509up_u<uid>',
    })
    expect(await find({ ...env, X509_USER_PROXY: '/there' })).toEqual({
      kind: 'proxy',
      path: '/there',
      from: '$X509_USER_PROXY',
    })
    expect(await find({ X509_USER_CERT: '/c', X509_USER_KEY: '/k' }, { tmpDir: home })).toEqual({
      kind: 'certificate',
      cert: '/c',
      key: '/k',
      from: '$X509_USER_CERT/$X509_USER_KEY',
    })
    expect(await find({}, { tmpDir: home })).toEqual({
      kind: 'certificate',
      cert: join(home, '.globus', 'usercert.pem'),
      key: join(home, '.globus', 'userkey.pem'),
      from: '~/.globus',
    })
  })

  it('takes $HOME when no home is given', async () => {
    await writeFile(join(home, '.globus', 'usercert.pem'), 'C')
    expect(await discoverCredential({ env: { HOME: home }, uid: UID, tmpDir: tmp })).toMatchObject({
      from: '~/.globus',
      cert: join(home, '.globus', 'usercert.pem'),
    })
  })

  it('names every place it tried when there is nothing', async () => {
    const e = await find({ XDG_RUNTIME_DIR: xdg, BEARER_TOKEN_FILE: join(root, 'nope') }).catch((x) => x)
    expect(e).toBeInstanceOf(AsoError)
    expect((e as AsoError).code).toBe('unauthenticated')
    expect((e as AsoError).message).toBe(
      `no credential found (tried $BEARER_TOKEN, ${join(root, 'nope')}, ${join(xdg, `bt_u${UID}`)}, ${join(tmp, `bt_u${UID}`)}, ${join(tmp, `x509up_u${UID}`)}, ${join(home, '.globus', 'usercert.pem')}): make a proxy (voms-proxy-init), get a token (e.g. into $BEARER_TOKEN_FILE), or give --token-file, --proxy or --cert/--key`,
    )
  })

  it('refuses an empty or missing --token-file and a --cert without --key', async () => {
    await writeFile(join(root, 'empty'), ' \n')
    await expect(find({}, { tokenFile: join(root, 'empty') })).rejects.toThrow(/is empty: get a new token/)
    await expect(find({}, { tokenFile: join(root, 'nope') })).rejects.toThrow(/does not exist/)
    await expect(find({}, { cert: '/c' })).rejects.toMatchObject({ code: 'usage' })
  })
})

describe('loadClientAuth with discovery', () => {
  let pki: TestPki
  let root: string
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'aso-client-auth-'))
    pki = await makeTestPki(join(root, 'pki'))
  })
  const load = (env: NodeJS.ProcessEnv, home = join(root, 'nohome')) =>
    loadClientAuth('https://aso.example.org:8443', {
      env,
      uid: UID,
      home,
      tmpDir: join(root, 'notmp'),
      caDir: pki.caDir,
    })

  it('presents a discovered token, else the ~/.globus certificate and key', async () => {
    expect(await load({ BEARER_TOKEN: 'tok' })).toEqual({
      ca: [expect.stringMatching(/BEGIN CERTIFICATE/)],
      token: 'tok',
    })
    const alice = await pki.userCert('alice')
    const home = join(root, 'home')
    await mkdir(join(home, '.globus'), { recursive: true })
    await writeFile(join(home, '.globus', 'usercert.pem'), alice.certPem)
    await writeFile(join(home, '.globus', 'userkey.pem'), alice.keyPem)
    expect(await load({}, home)).toMatchObject({ cert: alice.certPem, key: alice.keyPem })
  })

  it('refuses a key protected by a passphrase, advising a proxy', async () => {
    const bob = await pki.userCert('bob')
    const encrypted = join(root, 'bob-key.pem')
    await openssl(['pkey', '-in', bob.keyPath, '-aes256', '-passout', 'pass:secret', '-out', encrypted])
    await expect(load({ X509_USER_CERT: bob.certPath, X509_USER_KEY: encrypted })).rejects.toThrow(
      `the key ${encrypted} is protected by a passphrase: make a proxy with voms-proxy-init`,
    )
  })
})
