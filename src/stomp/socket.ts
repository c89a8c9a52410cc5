/**
 * The socket a STOMP connection runs on: plain TCP or TLS (node:tls: the broker's certificate checked against
 * the CA directory and its host name, a client certificate when configured), as @stomp/stompjs's IStompSocket
 * through @stomp/tcp-wrapper's TCPWrapper, whose socket-making hook is overridden. A TLS socket announces
 * itself open when TCP connects: STOMP's CONNECT frame written then waits inside TLS for the handshake, and
 * a failed handshake closes the socket with the TLS error, so not one byte of STOMP goes out in clear.
 */
import { isIP, Socket, createConnection as tcpConnect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { IStompSocket } from '@stomp/stompjs'
import { TCPWrapper } from '@stomp/tcp-wrapper'
import type { StompCredentials, StompTarget } from './settings.js'

/** A socket that fails at once with `err` (what could not be read before connecting). */
function failedSocket(err: Error): Socket {
  const s = new Socket()
  s.destroy(err)
  return s
}

/** A broker that takes the TCP connection but never completes the TLS handshake (a plain port) is left then. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000

function openSocket(target: StompTarget, creds: StompCredentials): Socket {
  const { host, port } = target.endpoint
  if (!target.tls) return tcpConnect({ host, port })
  const socket = tlsConnect({
    host,
    port,
    // SNI takes host names only; the certificate is checked against `host` either way
    ...(isIP(host) ? {} : { servername: host }),
    ca: creds.ca ?? [],
    ...(creds.cert !== undefined && creds.key !== undefined ? { cert: creds.cert, key: creds.key } : {}),
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  })
  const timer = setTimeout(() => {
    const err: NodeJS.ErrnoException = new Error(
      `no TLS handshake within ${TLS_HANDSHAKE_TIMEOUT_MS / 1000} s`,
    )
    err.code = 'ERR_TLS_HANDSHAKE_TIMEOUT'
    socket.destroy(err)
  }, TLS_HANDSHAKE_TIMEOUT_MS)
  const done = (): void => clearTimeout(timer)
  socket.once('secureConnect', done)
  socket.once('close', done)
  return socket
}

/** How long a closing socket may wait for its peer's side of the close. */
const CLOSE_GRACE_MS = 2000

/**
 * A STOMP socket to the target: TLS exactly when the target says so. `creds` is what the connection needs,
 * or why it could not be read (the socket then fails at once); `onError` hears every socket error.
 */
export function openStompSocket(
  target: StompTarget,
  creds: StompCredentials | Error,
  onError: (err: Error) => void,
): IStompSocket {
  let socket: Socket | undefined
  let established = false
  const open = (): Socket => {
    const s = creds instanceof Error ? failedSocket(creds) : openSocket(target, creds)
    s.once(target.tls ? 'secureConnect' : 'connect', () => {
      established = true
    })
    s.on('error', onError)
    socket = s
    return s
  }
  // TCPWrapper asks for its socket from its constructor, before a subclass's fields exist: a class per socket
  const Wrapper = class extends TCPWrapper {
    protected override getSocket(): Socket {
      return open()
    }

    /** Ends the socket; one still connecting or in its TLS handshake would wait for the peer: destroyed. */
    override close(): void {
      super.close()
      const s = socket
      if (!s || s.destroyed) return
      if (!established) s.destroy()
      else setTimeout(() => s.destroy(), CLOSE_GRACE_MS).unref()
    }
  }
  return new Wrapper(target.endpoint.host, target.endpoint.port)
}

/** TLS verification failures of the broker's certificate chain (OpenSSL's names, as Node reports them). */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
])

/** Why a connection to the broker failed, in words that say what to check. */
export function explainStompError(err: Error, target: StompTarget): string {
  const code = (err as NodeJS.ErrnoException).code ?? ''
  const { endpoint, names } = target
  const where = `${endpoint.tls ? 'STOMP over TLS' : 'STOMP'} to ${endpoint.display}`
  const message = err.message.trim()
  if ('field' in err && typeof err.field === 'string') return `${where}: not connecting: ${message}`
  if (code === 'ECONNREFUSED')
    return `${where}: connection refused: is the broker running and is this its port?`
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `${where}: unknown host ${endpoint.host}`
  if (!target.tls) return `${where}: ${message}`
  if (UNTRUSTED.has(code))
    return `${where}: the broker's certificate is not issued by a CA of ${target.tls.caDir} (${code}: ${message}); put its CA there or set ${names.caDir}`
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `${where}: the broker's certificate is not for ${endpoint.host} (${message}); use the host name the certificate names in ${names.url}`
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID')
    return `${where}: the broker's certificate is out of its validity (${code}: ${message})`
  if (/CERTIFICATE_REQUIRED|BAD_CERTIFICATE|HANDSHAKE_FAILURE|UNKNOWN_CA|CERTIFICATE_UNKNOWN/i.test(code))
    return `${where}: the broker refused the TLS handshake (${code}): ${target.tls.cert ? `check that it trusts the CA of ${target.tls.cert}` : `it may require a client certificate: set ${names.cert} and ${names.key}`}`
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT')
    return `${where}: ${message}: is ${endpoint.port} the broker's plain STOMP port? (stomp+ssl:// needs its TLS port)`
  // OpenSSL reading a plain answer (a STOMP frame, an HTTP-like line) as a TLS record
  if (
    code === 'EPROTO' ||
    /wrong version number|packet length too long|ssl3_get_record|http request/i.test(message)
  )
    return `${where}: the broker did not answer in TLS: is ${endpoint.port} its plain STOMP port? (${message})`
  if (code === 'ECONNRESET' || /socket hang up|disconnected before secure/i.test(message))
    return `${where}: the broker closed the connection during the TLS handshake (${code || message}): ${target.tls.cert ? 'does it trust our client certificate?' : `does it require a client certificate (${names.cert}, ${names.key})? is ${endpoint.port} its TLS port?`}`
  return `${where}: ${code ? `${code}: ` : ''}${message}`
}
