/**
 * Webhook callbacks: which URLs a request may name (an allow-list of hosts, so ASO cannot be made to POST
 * into networks it should not reach), and the rule that every file of a task names the same one.
 */

/** Whether `host` is allowed by an entry: the exact host, or a domain suffix written `.example.org`. */
function hostAllowed(host: string, entry: string): boolean {
  const h = host.toLowerCase()
  const e = entry.toLowerCase()
  if (e.startsWith('.')) return h.endsWith(e)
  if (e.startsWith('*.')) return h.endsWith(e.slice(1))
  return h === e
}

/** Why a callback URL may not be used (null when it may): its host must be on `allowHosts`. */
export function callbackUrlProblem(url: string, allowHosts: readonly string[]): string | null {
  let host: string
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '')
  } catch (e) {
    return `is not a URL (${(e as Error).message})`
  }
  if (allowHosts.length === 0) {
    return 'callbacks are not enabled on this ASO (no api.callbacks.allowHosts configured); leave callbackUrl out and use GET /api/v1/tasks/{task}/wait or the event stream'
  }
  if (allowHosts.some((entry) => hostAllowed(host, entry))) return null
  return `host "${host}" is not on the callback allow-list (${allowHosts.join(', ')}); ask an operator to add it to api.callbacks.allowHosts`
}

/**
 * Why a file's callback URL breaks "one callback URL per task" (null when it does not): `known` is what the
 * task already uses, from the store or an earlier item of the same batch (undefined: nothing yet). `known`
 * must come from the same user's files only: the message shows it.
 */
export function taskCallbackProblem(
  task: string,
  url: string | null,
  known: string | null | undefined,
): string | null {
  if (known === undefined || known === url) return null
  const shown = (u: string | null) => (u === null ? 'no callbackUrl' : `"${u}"`)
  return `every file of a task must carry the same callbackUrl: task "${task}" already has ${shown(known)}, this file has ${shown(url)}`
}
