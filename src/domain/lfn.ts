/** LFN rules (invariant 9) and the areas a user may read from and write to (invariant 8). */

export const LFN_MAX_LENGTH = 1024
const SEGMENT = /^[A-Za-z0-9._-]+$/

/** Why `lfn` is not an acceptable logical file name, or null when it is. */
export function lfnProblem(lfn: string): string | null {
  if (lfn.length === 0) return 'is empty'
  if (lfn.length > LFN_MAX_LENGTH) return `is ${lfn.length} characters long; the limit is ${LFN_MAX_LENGTH}`
  if (!lfn.startsWith('/store/')) return 'must be absolute and start with /store/'
  const segments = lfn.slice(1).split('/')
  for (const [i, seg] of segments.entries()) {
    if (seg === '') {
      return i === segments.length - 1
        ? 'must name a file, not end with /'
        : 'contains an empty path segment (//)'
    }
    if (seg === '.' || seg === '..') return `contains the path segment "${seg}"; use a plain path`
    if (!SEGMENT.test(seg)) return `segment "${seg}" may only contain letters, digits, '.', '_' and '-'`
  }
  return null
}

/** Where users' jobs leave files and where users may write, as path patterns with {user}, {group} and *. */
export interface Areas {
  tempArea: string
  tempGroupArea: string
  userArea: string
  groupArea: string
}

export const DEFAULT_AREAS: Areas = {
  tempArea: '/store/temp/user/{user}.*/',
  tempGroupArea: '/store/temp/group/{group}/',
  userArea: '/store/user/{user}/',
  groupArea: '/store/group/{group}/',
}

function escapeRegex(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')
}

const ANY_NAME = '[A-Za-z0-9._-]+'
/** `*` beside a placeholder: a user's hash suffix, never anything a name may hold ('.', '_', '-') */
const SUFFIX = '[A-Za-z0-9]*'
/** `*` elsewhere: any part of a path segment */
const ANY_PART = '[A-Za-z0-9._-]*'
const PLACEHOLDER = /\{user\}|\{group\}/
const PART = /(\{user\}|\{group\}|\*)/

/**
 * Why an area pattern could let one user's pattern match another user's path (null when it cannot). Names may
 * hold '.', '_' and '-', so in a segment with a placeholder, `*` matches letters and digits only and must be
 * parted from the placeholder by another character: `{user}.*` splits `alice.smith.7f3a` at its last dot, so
 * it is alice.smith's and never alice's; `{user}*` would be both.
 */
export function areaPatternProblem(pattern: string): string | null {
  if (!pattern.startsWith('/store/')) return 'must start with /store/'
  for (const segment of pattern.split('/')) {
    const parts = segment.split(PART).filter((p) => p !== '')
    const placeholders = parts.filter((p) => PLACEHOLDER.test(p))
    if (placeholders.length > 1) {
      return `segment "${segment}" holds ${placeholders.join(' and ')}: one placeholder per path segment, or users' areas overlap`
    }
    if (placeholders.length === 0) continue
    for (const [i, p] of parts.entries()) {
      const next = parts[i + 1]
      const touching = (a: string, b: string | undefined) =>
        b !== undefined && ((PLACEHOLDER.test(a) && b === '*') || (a === '*' && PLACEHOLDER.test(b)))
      if (touching(p, next)) {
        return `segment "${segment}": a * right beside a placeholder makes users' areas overlap; part them with a '.' as in {user}.*`
      }
      if (p !== '*' && !PLACEHOLDER.test(p) && /^[A-Za-z0-9]+$/.test(p)) {
        const around = [parts[i - 1], next]
        if (around.includes('*') && around.some((a) => a !== undefined && PLACEHOLDER.test(a))) {
          return `segment "${segment}": "${p}" between a placeholder and a * has only letters and digits, which * also matches; part them with a '.' as in {user}.*`
        }
      }
    }
  }
  return null
}

/** Compiles an area pattern into a regex matching LFNs strictly inside it; `vars` fill {user} and {group}. */
function compileArea(pattern: string, vars: { user: string; group: string }): RegExp {
  const withSlash = pattern.endsWith('/') ? pattern : `${pattern}/`
  const body = withSlash
    .split('/')
    .map((segment) => {
      const star = PLACEHOLDER.test(segment) ? SUFFIX : ANY_PART
      return segment
        .split(PART)
        .map((p) => {
          if (p === '{user}') return vars.user
          if (p === '{group}') return vars.group
          if (p === '*') return star
          return escapeRegex(p)
        })
        .join('')
    })
    .join('/')
  return new RegExp(`^${body}[^/]`)
}

function insideAny(
  lfn: string,
  user: string,
  groups: readonly string[],
  userPattern: string,
  groupPattern: string,
) {
  const u = escapeRegex(user)
  if (compileArea(userPattern, { user: u, group: ANY_NAME }).test(lfn)) return true
  return groups.some((group) => compileArea(groupPattern, { user: u, group: escapeRegex(group) }).test(lfn))
}

/** Whether a source LFN lies in the user's own temporary area (or a temp area of one of their groups). */
export function inTempArea(
  lfn: string,
  user: string,
  groups: readonly string[],
  areas: Areas = DEFAULT_AREAS,
) {
  return insideAny(lfn, user, groups, areas.tempArea, areas.tempGroupArea)
}

/** Whether a destination LFN lies in the namespace the user may write (their own, or their groups'). */
export function inUserNamespace(
  lfn: string,
  user: string,
  groups: readonly string[],
  areas: Areas = DEFAULT_AREAS,
) {
  return insideAny(lfn, user, groups, areas.userArea, areas.groupArea)
}

/** Whether an LFN lies in any temporary area at all: the only place the cleaner may delete. */
export function inAnyTempArea(lfn: string, areas: Areas = DEFAULT_AREAS): boolean {
  const any = { user: ANY_NAME, group: ANY_NAME }
  return compileArea(areas.tempArea, any).test(lfn) || compileArea(areas.tempGroupArea, any).test(lfn)
}
