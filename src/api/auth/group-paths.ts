/**
 * Groups a credential proves, read as whole paths (WLCG token profile `wlcg.groups`, VOMS FQANs): the
 * top-level group `/cms` is ASO group `cms`; a subgroup such as `/cms/higgs` is an ASO group only through
 * `api.tokens.groupMap` (`"/cms/higgs": cms-higgs`), since membership of `/cms/higgs` says nothing about
 * membership of `/cms` or of a group named `higgs`. Anything else is ignored, with a reason for the log.
 */

/** One segment of a group path (and an ASO group name): what areas like /store/temp/group/{group}/ accept. */
const GROUP_NAME = /^[A-Za-z0-9._-]{1,64}$/
/** `/cms`, `/cms/higgs`: the keys api.tokens.groupMap accepts. */
export const GROUP_PATH = /^(\/[A-Za-z0-9._-]{1,64})+$/

/** The ASO group of one proven group path, or why it gives none. */
export function groupOfPath(
  path: string,
  groupMap: Readonly<Record<string, string>>,
): { group: string } | { ignored: string } {
  const mapped = Object.hasOwn(groupMap, path) ? groupMap[path] : undefined
  if (mapped !== undefined) return { group: mapped }
  if (!GROUP_PATH.test(path)) {
    return {
      ignored: path.startsWith('/')
        ? `"${path}" is not a group path (/group or /group/subgroup)`
        : `"${path}" is not a group path: groups are paths such as /cms (configure the issuer to send full group paths)`,
    }
  }
  const segments = path.split('/').slice(1)
  if (segments.length === 1 && GROUP_NAME.test(segments[0]!)) return { group: segments[0]! }
  return { ignored: `subgroup ${path} is not in api.tokens.groupMap, so it gives no ASO group` }
}

/**
 * The ASO groups of a token's groups claim (an array of paths, or one string of paths separated by spaces or
 * commas); `ignored` receives each value that gives none and why. Undefined when the claim is absent.
 */
export function groupsOfClaim(
  value: unknown,
  groupMap: Readonly<Record<string, string>>,
  ignored: (why: string) => void = () => {},
): string[] | undefined {
  let paths: unknown[]
  if (Array.isArray(value)) paths = value
  else if (typeof value === 'string') paths = value.split(/[ ,]+/).filter((p) => p !== '')
  else return undefined
  const out = new Set<string>()
  for (const p of paths) {
    if (typeof p !== 'string') {
      ignored(`a group that is not a string (${JSON.stringify(p)})`)
      continue
    }
    const g = groupOfPath(p, groupMap)
    if ('group' in g) out.add(g.group)
    else ignored(g.ignored)
  }
  return [...out]
}

/**
 * The group path of a VOMS FQAN: `/cms/Role=NULL/Capability=NULL` → `/cms`, `/cms/higgs/Role=production` →
 * `/cms/higgs` (then mapped by groupOfPath like a token group). Undefined when it names no group.
 */
export function groupPathOfFqan(fqan: string): string | undefined {
  const segments = fqan.split('/').slice(1)
  if (!fqan.startsWith('/')) return undefined
  const groupSegments = segments.filter((s) => !/^(Role|Capability)=/.test(s))
  // Role/Capability come last in an FQAN; a group segment after them is not an FQAN we understand.
  if (segments.slice(0, groupSegments.length).join('/') !== groupSegments.join('/')) return undefined
  return groupSegments.length === 0 ? undefined : `/${groupSegments.join('/')}`
}

/** The ASO groups of VOMS FQANs, by the same rule as token groups. */
export function groupsOfFqans(
  fqans: readonly string[],
  groupMap: Readonly<Record<string, string>>,
  ignored: (why: string) => void = () => {},
): string[] {
  const out = new Set<string>()
  for (const fqan of fqans) {
    const path = groupPathOfFqan(fqan)
    if (path === undefined) {
      ignored(`FQAN ${fqan} names no group`)
      continue
    }
    const g = groupOfPath(path, groupMap)
    if ('group' in g) out.add(g.group)
    else ignored(g.ignored)
  }
  return [...out]
}
