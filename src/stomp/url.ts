/** Where a STOMP broker is: `stomp://` or `tcp://` (plain), `stomp+ssl://` or `ssl://` (TLS), with user:password. */
import { AsoError } from '../domain/errors.js'

export interface StompEndpoint {
  /** STOMP over TLS */
  tls: boolean
  /** host name or IP address, without IPv6 brackets */
  host: string
  port: number
  /** user and password given in the URL */
  login?: string
  passcode?: string
  /** `stomp+ssl://host:port`, without user and password: for logs and messages */
  display: string
}

const PLAIN = ['stomp:', 'tcp:']
const TLS = ['stomp+ssl:', 'ssl:']
/** ActiveMQ's default STOMP ports (production FTS brokers name theirs). */
const DEFAULT_PORT = { plain: 61613, tls: 61612 }

/**
 * Parses a broker URL; throws an AsoError naming `field` (the config key or flag the URL came from) and the
 * accepted forms when it is not one.
 */
export function parseStompUrl(url: string, field = 'fts3.stomp.url'): StompEndpoint {
  const fail = (why: string): never => {
    throw new AsoError(
      'invalid-config',
      `${field}: ${why}: use stomp://HOST:PORT (plain) or stomp+ssl://HOST:PORT (STOMP over TLS), with USER:PASSWORD@ before the host if the broker wants a login`,
      { field },
    )
  }
  const scheme = /^[a-z+]+:/i.exec(url)?.[0].toLowerCase()
  if (!scheme || !url.slice(scheme.length).startsWith('//')) return fail(`"${url}" is not a broker URL`)
  const tls = TLS.includes(scheme)
  if (!tls && !PLAIN.includes(scheme)) return fail(`the scheme ${scheme}// is not a STOMP one`)
  let u: URL
  try {
    // the WHATWG parser reads host, port and credentials of http: URLs only as one expects
    u = new URL(`http:${url.slice(scheme.length)}`)
  } catch (err) {
    void err
    return fail(`"${url}" is not a broker URL`)
  }
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash)
    return fail(`"${url}" has a path or query (the topic is set on its own, not in the URL)`)
  const host = u.hostname.replace(/^\[|\]$/g, '')
  if (!host) return fail(`"${url}" names no host`)
  const port = u.port ? Number(u.port) : tls ? DEFAULT_PORT.tls : DEFAULT_PORT.plain
  const shown = u.hostname.includes(':') || u.hostname.startsWith('[') ? u.hostname : host
  return {
    tls,
    host,
    port,
    ...(u.username
      ? { login: decodeURIComponent(u.username), passcode: decodeURIComponent(u.password) }
      : {}),
    display: `${tls ? 'stomp+ssl' : 'stomp'}://${shown}:${port}`,
  }
}
