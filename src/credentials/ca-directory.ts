/**
 * What an IGTF-style CA directory says beyond its CA certificates: CRLs (`<hash>.r0`) and namespace policies
 * (`<hash>.namespaces`, else `<hash>.signing_policy`). Loaded with the trust store; applied to every
 * certificate a CA issued in a verified chain (end-entity and intermediate CAs, not proxies):
 * - a revoked certificate is refused; a CRL past its nextUpdate refuses all its CA issued (fetch-crl is
 *   not running); a CA without a CRL is accepted, with one warning per CA;
 * - when a policy names the issuing CA, the subject must be one it allows.
 */
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { type NamespaceRule, parseNamespaces, parseSigningPolicy, policyAllows } from './ca-policy.js'
import { type Crl, crlSignedBy, parseCrl } from './crl.js'
import { sameName } from './dn.js'
import { errorText, formatDate } from './messages.js'
import type { Cert } from './x509.js'

type CrlState = { file: string; crl: Crl } | { file: string; problem: string }

export interface CaDirectoryPolicy {
  /** CA certificate (DER, base64) → its CRL, or why the CRL file of that CA cannot be used */
  crls: Map<string, CrlState>
  /** every namespace rule of the directory, SELF resolved, with the file it came from */
  rules: { rule: NamespaceRule; file: string }[]
  /** slash DN of a CA whose own `<hash>` has a policy file → that file (a policy then must name the CA) */
  governed: Map<string, string>
  /** slash DN of a CA → why its policy file cannot be read (its certificates are refused) */
  unreadable: Map<string, string>
  /** CAs already warned about (missing CRL): one log line per CA, not one per request */
  warned: Set<string>
}

/** A CA certificate file of the directory and the certificates it holds. */
export interface CaFile {
  name: string
  certs: Cert[]
}

const stemOf = (name: string) => name.replace(/\.[^.]+$/, '')
const keyOf = (cert: Cert) => cert.der.toString('base64')

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    // vanished between readdir and read (fetch-crl replaces files): as if it were not there
    void err
    return undefined
  }
}

/**
 * Parsed CRLs by path, reused while the file's size and mtime stay the same: the directory is re-read every few
 * minutes, and a CRL of 50,000 entries takes ~350 ms to parse.
 */
const parsedCrls = new Map<string, { mtimeMs: number; size: number; crl: Crl }>()

/** The CRL in `path` (undefined when the file vanished); throws when it cannot be parsed. */
async function readCrl(path: string): Promise<Crl | undefined> {
  let info: Awaited<ReturnType<typeof stat>>
  try {
    info = await stat(path)
  } catch (err) {
    void err // vanished between readdir and stat (fetch-crl replaces files): as if it were not there
    return undefined
  }
  const known = parsedCrls.get(path)
  if (known && known.mtimeMs === info.mtimeMs && known.size === info.size) return known.crl
  const text = await readText(path)
  if (text === undefined) return undefined
  const crl = parseCrl(text)
  parsedCrls.set(path, { mtimeMs: info.mtimeMs, size: info.size, crl })
  return crl
}

/** Reads the CRLs and namespace policies of `dir` for the CAs of `caFiles`. Never throws for a bad file. */
export async function loadCaDirectoryPolicy(
  dir: string,
  names: readonly string[],
  caFiles: readonly CaFile[],
): Promise<CaDirectoryPolicy> {
  const policy: CaDirectoryPolicy = {
    crls: new Map(),
    rules: [],
    governed: new Map(),
    unreadable: new Map(),
    warned: new Set(),
  }
  const cas = caFiles.flatMap((f) => f.certs)
  const casOfStem = (stem: string) => caFiles.filter((f) => stemOf(f.name) === stem).flatMap((f) => f.certs)

  for (const name of names.filter((n) => /\.r\d+$/.test(n))) {
    let crl: Crl
    try {
      const parsed = await readCrl(join(dir, name))
      if (parsed === undefined) continue
      crl = parsed
    } catch (err) {
      for (const ca of casOfStem(stemOf(name))) {
        policy.crls.set(keyOf(ca), { file: name, problem: `cannot be read (${errorText(err)})` })
      }
      continue
    }
    const named = cas.filter((ca) => sameName(ca.subjectRdns, crl.issuerRdns))
    const signer = named.find((ca) => crlSignedBy(crl, ca))
    if (signer === undefined) {
      for (const ca of named) {
        policy.crls.set(keyOf(ca), { file: name, problem: "is not signed by this CA's key" })
      }
      continue
    }
    const known = policy.crls.get(keyOf(signer))
    if (known && 'crl' in known && known.crl.thisUpdate >= crl.thisUpdate) continue // keep the newest
    policy.crls.set(keyOf(signer), { file: name, crl })
  }

  const policyFiles = new Set(names.filter((n) => /\.(namespaces|signing_policy)$/.test(n)))
  const stems = new Set([...policyFiles].map(stemOf))
  for (const stem of stems) {
    // the IGTF rule: a namespaces file, when present, replaces the signing_policy
    const file = policyFiles.has(`${stem}.namespaces`) ? `${stem}.namespaces` : `${stem}.signing_policy`
    const self = casOfStem(stem)
    for (const ca of self) policy.governed.set(ca.subject, file)
    const text = await readText(join(dir, file))
    if (text === undefined) continue
    let rules: NamespaceRule[]
    try {
      rules = file.endsWith('.namespaces') ? parseNamespaces(text) : parseSigningPolicy(text)
    } catch (err) {
      for (const ca of self) policy.unreadable.set(ca.subject, `${file} cannot be read: ${errorText(err)}`)
      continue
    }
    for (const rule of rules) {
      if (rule.issuer !== 'SELF') policy.rules.push({ rule, file })
      else for (const ca of self) policy.rules.push({ rule: { ...rule, issuer: ca.subject }, file })
    }
  }
  return policy
}

/**
 * Why the CA directory does not let `issuer` have issued `cert` at `now` (revoked, CRL out of date or
 * unusable, outside the CA's namespace), or undefined. `warn` hears a missing CRL, once per CA.
 */
export function issuanceProblem(
  policy: CaDirectoryPolicy,
  dir: string,
  cert: Cert,
  issuer: Cert,
  now: Date,
  warn?: (message: string) => void,
): string | undefined {
  const state = policy.crls.get(keyOf(issuer))
  if (state === undefined) {
    if (warn && !policy.warned.has(issuer.subject)) {
      policy.warned.add(issuer.subject)
      warn(
        `no CRL of CA ${issuer.subject} in ${dir}: certificates it revoked are still accepted; run fetch-crl ` +
          'to keep the CRLs of the CA directory current',
      )
    }
  } else if ('problem' in state) {
    return (
      `the CRL of CA ${issuer.subject} (${join(dir, state.file)}) ${state.problem}, so its certificates are ` +
      `refused: run fetch-crl to refresh the CRLs in ${dir}`
    )
  } else {
    const { crl, file } = state
    if (crl.nextUpdate !== undefined && crl.nextUpdate.getTime() < now.getTime()) {
      return (
        `the CRL of CA ${issuer.subject} (${join(dir, file)}) is out of date (its next update was due ` +
        `${formatDate(crl.nextUpdate)}), so its certificates are refused: run fetch-crl to update the CRLs in ${dir}`
      )
    }
    const revokedOn = crl.revoked.get(cert.serialHex)
    if (revokedOn !== undefined) {
      return `certificate ${cert.subject} (serial ${cert.serialHex}) was revoked by its CA ${issuer.subject} on ${formatDate(revokedOn)}`
    }
  }

  const unreadable = policy.unreadable.get(issuer.subject)
  if (unreadable)
    return `the namespace policy of CA ${issuer.subject} in ${dir}: ${unreadable}; fix or remove it`
  const mine = policy.rules.filter((r) => r.rule.issuer === issuer.subject)
  const allowed = policyAllows(
    mine.map((r) => r.rule),
    issuer.subject,
    cert.subject,
  )
  const file = mine[0]?.file ?? policy.governed.get(issuer.subject)
  if (allowed === false || (allowed === undefined && file !== undefined)) {
    return (
      `CA ${issuer.subject} may not sign ${cert.subject}: its namespace policy (${join(dir, file!)}) does ` +
      'not allow that subject'
    )
  }
  return undefined
}
