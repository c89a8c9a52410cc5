/**
 * A throw-away grid PKI made with openssl at test time (nothing of it is committed): a CA, a host
 * certificate for localhost, user certificates and RFC 3820 proxies, as in docs/storage-notes.md §4.
 * Certificates are signed with `openssl ca` so that validity dates can be set freely (OpenSSL 3.0's
 * `x509 -req` has no -not_before/-not_after): expired certificates are real ones whose notAfter is past.
 * Keys are RSA 2048 (about 50 ms each with openssl).
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)

export interface UserCert {
  certPem: string
  keyPem: string
  certPath: string
  keyPath: string
  /** slash DN, e.g. /DC=ch/DC=cern/OU=Users/CN=alice */
  dn: string
}

export interface ProxyCert {
  /** the x509up file: proxy certificate, proxy key, user certificate; mode 600 */
  path: string
  certPem: string
  keyPem: string
  /** proxy certificate then user certificate (no key): what a TLS client presents */
  chainPem: string
  /** the proxy's own DN: user DN + /CN=<serial> (or /CN=proxy for a legacy proxy) */
  dn: string
  /** the proxy certificate alone, in a file */
  certPath: string
  keyPath: string
}

export interface TestCa {
  dn: string
  certPem: string
  certPath: string
  keyPath: string
}

export interface ForeignCa extends TestCa {
  /** a user certificate this CA issued */
  user: UserCert
}

export interface TestPki {
  dir: string
  ca: TestCa
  /** X509_CERT_DIR style directory holding <subject_hash>.0 of the CA */
  caDir: string
  /** localhost: SAN DNS:localhost, IP:127.0.0.1, IP:::1; serverAuth + clientAuth */
  host: UserCert
  userCert(name: string, opts?: { days?: number; expired?: boolean }): Promise<UserCert>
  /** a user certificate with any subject in `openssl -subj` form (`\/` escapes a slash inside a value) */
  certWithSubject(subject: string): Promise<UserCert>
  /** the CA's OpenSSL subject hash: its files in caDir are `<hash>.0`, `<hash>.r0`, `<hash>.namespaces`... */
  caHash: string
  /** marks a certificate the CA issued as revoked (the next writeCrl lists it) */
  revoke(cert: { certPath: string }): Promise<void>
  /** writes the CA's CRL as `<hash>.r0` in caDir; `expired`: its nextUpdate is a day in the past */
  writeCrl(opts?: { expired?: boolean }): Promise<void>
  /** a proxy of a user certificate, or of another proxy (a proxy chain) */
  proxy(
    user: UserCert | ProxyCert,
    opts?: {
      /** proxyCertInfo as an openssl extension value; default `critical,language:id-ppl-inheritAll` */
      proxyCertInfo?: string
      hours?: number
      expired?: boolean
      /** a Globus legacy proxy: subject .../CN=proxy, no proxyCertInfo */
      legacy?: boolean
      /** extra lines for the proxy's openssl extension file, e.g. `1.2.3.4=DER:0500` */
      extensions?: string[]
    },
  ): Promise<ProxyCert>
  /** an intermediate CA signed by the test CA (not in caDir: clients present it) and a user certificate it issued */
  intermediateCa(): Promise<ForeignCa>
  /** a second, unrelated CA (not in caDir) with its own user certificate; `sameDn` gives it the real CA's DN */
  foreignCa(opts?: { sameDn?: boolean }): Promise<ForeignCa>
}

const CA_DN = '/DC=ch/DC=cern/CN=ASO Test CA'
const HOUR = 3600_000
const DAY = 24 * HOUR

const CA_EXT = [
  'basicConstraints=critical,CA:true',
  'keyUsage=critical,keyCertSign,cRLSign',
  'subjectKeyIdentifier=hash',
]
const HOST_EXT = [
  'basicConstraints=critical,CA:false',
  'keyUsage=critical,digitalSignature,keyEncipherment',
  'extendedKeyUsage=serverAuth,clientAuth',
  'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
  'authorityKeyIdentifier=keyid',
]
const USER_EXT = [
  'basicConstraints=critical,CA:false',
  'keyUsage=critical,digitalSignature,keyEncipherment',
  'extendedKeyUsage=clientAuth',
  'authorityKeyIdentifier=keyid',
]
const PROXY_EXT = [
  'basicConstraints=critical,CA:false',
  'keyUsage=critical,digitalSignature,keyEncipherment',
  'proxyCertInfo=critical,language:id-ppl-inheritAll',
]
const LEGACY_PROXY_EXT = [
  'basicConstraints=critical,CA:false',
  'keyUsage=critical,digitalSignature,keyEncipherment',
]

export async function openssl(args: string[], cwd?: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync('openssl', args, { cwd, maxBuffer: 4 * 1024 * 1024 })
    return stdout
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? ''
    throw new Error(`openssl ${args.join(' ')} failed: ${stderr.trim() || String(err)}`)
  }
}

/** `20240501120000Z`, the form `openssl ca -startdate/-enddate` takes. */
function caDate(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace(/[-:T]/g, '')}Z`
}

/** Creates the CA, the host certificate and the CA directory under `dir` (created if needed). */
export async function makeTestPki(dir: string): Promise<TestPki> {
  await mkdir(join(dir, 'db'), { recursive: true })
  await writeFile(join(dir, 'db', 'index.txt'), '')
  const caConfig = join(dir, 'ca.cnf')
  await writeFile(
    caConfig,
    [
      '[ca]',
      'default_ca = test',
      '[test]',
      `database = ${join(dir, 'db', 'index.txt')}`,
      `new_certs_dir = ${join(dir, 'db')}`,
      `serial = ${join(dir, 'db', 'serial')}`,
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      'email_in_dn = no',
      '[any]',
      '',
    ].join('\n'),
  )
  /** `openssl ca` with the test CA's configuration, as `cert` (signed by `key`). */
  const openSslCa = (cert: string, key: string, args: string[]) =>
    openssl(['ca', '-batch', '-config', caConfig, '-cert', cert, '-keyfile', key, ...args])
  let counter = 0
  const next = (stem: string) => join(dir, `${stem}-${++counter}`)

  async function newKeyAndCsr(base: string, subject: string): Promise<{ keyPath: string; csrPath: string }> {
    const keyPath = `${base}.key.pem`
    const csrPath = `${base}.csr`
    await openssl([
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      csrPath,
      '-subj',
      subject,
    ])
    return { keyPath, csrPath }
  }

  // `openssl ca` shares one serial file and index: signings run one at a time, even if callers overlap.
  let signing: Promise<unknown> = Promise.resolve()
  function signCsr(o: Parameters<typeof signCsrNow>[0]): Promise<string> {
    const result = signing.then(() => signCsrNow(o))
    signing = result.catch(() => undefined) // the caller sees the error; the queue goes on
    return result
  }

  /** Signs a CSR with `openssl ca`: any issuer (a CA, or a user certificate for proxies), any dates. */
  async function signCsrNow(o: {
    csrPath: string
    certPath: string
    issuerCert: string
    issuerKey: string
    ext: string[]
    notBefore: Date
    notAfter: Date
    serial: bigint
  }): Promise<string> {
    const extPath = `${o.certPath}.ext`
    await writeFile(extPath, `${o.ext.join('\n')}\n`)
    let hex = o.serial.toString(16)
    if (hex.length % 2) hex = `0${hex}`
    await writeFile(join(dir, 'db', 'serial'), `${hex}\n`)
    await openSslCa(o.issuerCert, o.issuerKey, [
      '-in',
      o.csrPath,
      '-out',
      o.certPath,
      '-notext',
      '-preserveDN',
      '-startdate',
      caDate(o.notBefore),
      '-enddate',
      caDate(o.notAfter),
      '-extfile',
      extPath,
    ])
    return readFile(o.certPath, 'utf8')
  }

  const randomSerial = () => BigInt(`0x${randomBytes(8).toString('hex')}`) & 0x7fffffffffffffffn || 1n

  async function makeCa(stem: string, dn: string): Promise<TestCa> {
    const base = next(stem)
    const certPath = `${base}.pem`
    const keyPath = `${base}.key.pem`
    await openssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-sha256',
      '-days',
      '3650',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-subj',
      dn,
      ...CA_EXT.flatMap((e) => ['-addext', e]),
    ])
    return { dn, certPem: await readFile(certPath, 'utf8'), certPath, keyPath }
  }

  async function issue(
    ca: TestCa,
    stem: string,
    dn: string,
    ext: string[],
    opts: { days?: number; expired?: boolean } = {},
  ): Promise<UserCert> {
    const base = next(stem)
    const { keyPath, csrPath } = await newKeyAndCsr(base, dn)
    const now = Date.now()
    const certPath = `${base}.pem`
    const certPem = await signCsr({
      csrPath,
      certPath,
      issuerCert: ca.certPath,
      issuerKey: ca.keyPath,
      ext,
      notBefore: new Date(opts.expired ? now - 30 * DAY : now - HOUR),
      notAfter: new Date(opts.expired ? now - DAY : now + (opts.days ?? 365) * DAY),
      serial: randomSerial(),
    })
    return { certPem, keyPem: await readFile(keyPath, 'utf8'), certPath, keyPath, dn }
  }

  const ca = await makeCa('ca', CA_DN)
  const caDir = join(dir, 'certificates')
  await mkdir(caDir, { recursive: true })
  const hash = (await openssl(['x509', '-in', ca.certPath, '-noout', '-subject_hash'])).trim()
  await writeFile(join(caDir, `${hash}.0`), ca.certPem)
  const host = await issue(ca, 'host', '/DC=ch/DC=cern/OU=computers/CN=localhost', HOST_EXT)

  return {
    dir,
    ca,
    caDir,
    host,
    userCert: (name, opts) => issue(ca, `user-${name}`, `/DC=ch/DC=cern/OU=Users/CN=${name}`, USER_EXT, opts),
    caHash: hash,
    certWithSubject: (subject) => issue(ca, 'user-subject', subject, USER_EXT),
    async revoke(cert) {
      await signing
      await openSslCa(ca.certPath, ca.keyPath, ['-revoke', cert.certPath])
    },
    async writeCrl(opts = {}) {
      await signing
      const now = Date.now()
      const dates = opts.expired
        ? [
            '-crl_lastupdate',
            caDate(new Date(now - 10 * DAY)),
            '-crl_nextupdate',
            caDate(new Date(now - DAY)),
          ]
        : ['-crldays', '30']
      const crlPath = join(dir, `crl-${++counter}.pem`)
      await openSslCa(ca.certPath, ca.keyPath, ['-gencrl', ...dates, '-out', crlPath])
      await writeFile(join(caDir, `${hash}.r0`), await readFile(crlPath, 'utf8'))
    },
    async proxy(signer, opts = {}) {
      const serial = BigInt(randomBytes(4).readUInt32BE() & 0x7fffffff) || 1n
      const user = signer
      const dn = `${user.dn}/CN=${opts.legacy ? 'proxy' : serial.toString()}`
      const base = next('proxy')
      const { keyPath, csrPath } = await newKeyAndCsr(base, dn)
      const now = Date.now()
      const certPath = `${base}.pem`
      const certPem = await signCsr({
        csrPath,
        certPath,
        issuerCert: user.certPath,
        issuerKey: user.keyPath,
        ext: [
          ...(opts.legacy
            ? LEGACY_PROXY_EXT
            : [
                ...PROXY_EXT.slice(0, 2),
                `proxyCertInfo=${opts.proxyCertInfo ?? 'critical,language:id-ppl-inheritAll'}`,
              ]),
          ...(opts.extensions ?? []),
        ],
        notBefore: new Date(opts.expired ? now - 2 * DAY : now - 5 * 60_000),
        notAfter: new Date(opts.expired ? now - DAY : now + (opts.hours ?? 12) * HOUR),
        serial,
      })
      const keyPem = await readFile(keyPath, 'utf8')
      const path = `${base}.x509up`
      // the signer's own chain: a user certificate alone, or a proxy and everything below it
      const below = 'chainPem' in signer ? signer.chainPem : signer.certPem
      await writeFile(path, certPem + keyPem + below, { mode: 0o600 })
      await chmod(path, 0o600)
      return { path, certPem, keyPem, chainPem: certPem + below, dn, certPath, keyPath }
    },
    async intermediateCa() {
      const base = next('sub-ca')
      const dn = '/DC=ch/DC=cern/CN=ASO Test Sub CA'
      const { keyPath, csrPath } = await newKeyAndCsr(base, dn)
      const now = Date.now()
      const certPath = `${base}.pem`
      const certPem = await signCsr({
        csrPath,
        certPath,
        issuerCert: ca.certPath,
        issuerKey: ca.keyPath,
        ext: [...CA_EXT, 'authorityKeyIdentifier=keyid'],
        notBefore: new Date(now - HOUR),
        notAfter: new Date(now + 365 * DAY),
        serial: randomSerial(),
      })
      const sub: TestCa = { dn, certPem, certPath, keyPath }
      const user = await issue(sub, 'sub-user', '/DC=ch/DC=cern/OU=Users/CN=sub-alice', USER_EXT)
      return { ...sub, user }
    },
    async foreignCa(opts = {}) {
      const other = await makeCa('foreign-ca', opts.sameDn ? CA_DN : '/DC=org/DC=example/CN=Foreign Test CA')
      const user = await issue(other, 'foreign-user', '/DC=org/DC=example/OU=Users/CN=mallory', USER_EXT)
      return { ...other, user }
    },
  }
}
