/**
 * Namespace policies of an IGTF CA directory: which subjects each CA may sign. Two formats, both plain lines:
 * - `<hash>.namespaces` (OGF GFD.189 EACL): `TO Issuer "/DC=org/DC=test/CN=CA" PERMIT Subject "/DC=org/DC=test/.*"`
 *   (also `DENY Subject`, `TO Issuer SELF`); subjects are regular expressions over the slash DN.
 * - `<hash>.signing_policy` (Globus): `access_id_CA X509 '/DC=org/DC=test/CN=CA'`, `pos_rights globus CA:sign`,
 *   `cond_subjects globus '"/DC=org/DC=test/*"'`; subjects are globs (`*`, `?`).
 * Both match the printed slash DN, as every grid middleware does.
 */

/** What one policy says about one issuing CA. */
export interface NamespaceRule {
  /** the CA's slash DN, or SELF: the CA whose `<hash>` names the file */
  issuer: string | 'SELF'
  permit: RegExp[]
  deny: RegExp[]
}

/** Splits policy text into words and quoted strings; `#` starts a comment, `\` at a line end joins lines. */
function tokens(text: string, quotes: string): string[] {
  const out: string[] = []
  const joined = text.replace(/\\\r?\n/g, ' ')
  for (const rawLine of joined.split(/\r?\n/)) {
    let i = 0
    const line = rawLine
    while (i < line.length) {
      const c = line[i]!
      if (/\s/.test(c)) {
        i++
      } else if (c === '#') {
        break
      } else if (quotes.includes(c)) {
        const end = line.indexOf(c, i + 1)
        if (end < 0) throw new Error(`unterminated ${c}quoted string${c} in "${line.trim()}"`)
        out.push(line.slice(i, end + 1))
        i = end + 1
      } else {
        let j = i
        while (j < line.length && !/\s/.test(line[j]!) && !quotes.includes(line[j]!)) j++
        out.push(line.slice(i, j))
        i = j
      }
    }
  }
  return out
}

const unquote = (t: string) => (/^(["']).*\1$/s.test(t) ? t.slice(1, -1) : t)

function anchored(source: string, what: string): RegExp {
  try {
    return new RegExp(`^(?:${source})$`)
  } catch (err) {
    throw new Error(`${what} "${source}" is not a valid pattern (${(err as Error).message})`)
  }
}

/** Parses a `.namespaces` (EACL) file. Throws an Error naming what it could not read. */
export function parseNamespaces(text: string): NamespaceRule[] {
  const ts = tokens(text, '"')
  const rules: NamespaceRule[] = []
  let current: NamespaceRule | undefined
  let i = 0
  const expect = (word: string) => {
    if (ts[i]?.toUpperCase() !== word) throw new Error(`expected ${word}, found ${ts[i] ?? 'the end'}`)
    i++
  }
  while (i < ts.length) {
    const word = ts[i]!.toUpperCase()
    if (word === 'TO') {
      i++
      expect('ISSUER')
      const issuer = ts[i++]
      if (issuer === undefined) throw new Error('TO Issuer without an issuer')
      current = { issuer: issuer.toUpperCase() === 'SELF' ? 'SELF' : unquote(issuer), permit: [], deny: [] }
      rules.push(current)
    } else if (word === 'PERMIT' || word === 'DENY') {
      if (current === undefined) throw new Error(`${word} before any TO Issuer`)
      i++
      expect('SUBJECT')
      const subject = ts[i++]
      if (subject === undefined || !subject.startsWith('"'))
        throw new Error(`${word} Subject needs a "quoted" pattern`)
      const re = anchored(unquote(subject), 'subject')
      ;(word === 'PERMIT' ? current.permit : current.deny).push(re)
    } else {
      throw new Error(`unexpected "${ts[i]}"`)
    }
  }
  return rules
}

/** A Globus glob (`*` any text, `?` one character) as an anchored regular expression. */
function globToRegExp(glob: string): RegExp {
  const source = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.')
  return new RegExp(`^${source}$`)
}

/** Parses a `.signing_policy` (Globus) file. Throws an Error naming what it could not read. */
export function parseSigningPolicy(text: string): NamespaceRule[] {
  const ts = tokens(text, "'")
  const rules: NamespaceRule[] = []
  let current: NamespaceRule | undefined
  let signs = false
  for (let i = 0; i < ts.length; ) {
    const key = ts[i++]!.toLowerCase()
    const scheme = ts[i++]
    const value = ts[i++]
    if (scheme === undefined || value === undefined) throw new Error(`"${key}" needs a type and a value`)
    if (key === 'access_id_ca') {
      current = { issuer: unquote(value), permit: [], deny: [] }
      signs = false
      rules.push(current)
    } else if (key === 'pos_rights') {
      if (current === undefined) throw new Error('pos_rights before any access_id_CA')
      signs = scheme.toLowerCase() === 'globus' && value.toLowerCase() === 'ca:sign'
    } else if (key === 'cond_subjects') {
      if (current === undefined) throw new Error('cond_subjects before any access_id_CA')
      if (!signs) continue // subjects a CA may not sign: no permission granted
      const inner = unquote(value)
      const globs = [...inner.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!)
      current.permit.push(...globs.map(globToRegExp))
    } else {
      throw new Error(`unexpected "${key}" (expected access_id_CA, pos_rights or cond_subjects)`)
    }
  }
  return rules
}

/**
 * Whether the rules that name `issuerDn` let it sign `subjectDn`: some PERMIT matches and no DENY does.
 * Undefined when no rule names this issuer.
 */
export function policyAllows(
  rules: readonly NamespaceRule[],
  issuerDn: string,
  subjectDn: string,
): boolean | undefined {
  const mine = rules.filter((r) => r.issuer === issuerDn)
  if (mine.length === 0) return undefined
  if (mine.some((r) => r.deny.some((re) => re.test(subjectDn)))) return false
  return mine.some((r) => r.permit.some((re) => re.test(subjectDn)))
}
