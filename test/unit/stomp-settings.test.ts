/**
 * src/stomp without a broker: broker URLs, settings checked against each other (named as the config or the
 * double's flags name them), and the words a failed connection is reported in.
 */
import { describe, expect, it } from 'vitest'
import { explainStompError, parseStompUrl, type StompFieldNames, stompTarget } from '../../src/stomp/index.js'

const FLAGS: StompFieldNames = {
  url: '--stomp',
  caDir: '--stomp-ca-dir',
  cert: '--stomp-cert',
  key: '--stomp-key',
  username: '--stomp-user',
  passwordFile: '--stomp-password-file',
}

const coded = (code: string, message: string): Error => Object.assign(new Error(message), { code })

describe('broker URLs', () => {
  it('plain and TLS schemes, default ports, IPv6, user and password kept out of the display form', () => {
    expect(parseStompUrl('stomp://127.0.0.1:61613')).toEqual({
      tls: false,
      host: '127.0.0.1',
      port: 61613,
      display: 'stomp://127.0.0.1:61613',
    })
    expect(parseStompUrl('tcp://broker')).toMatchObject({ tls: false, port: 61613 })
    expect(parseStompUrl('ssl://broker')).toMatchObject({
      tls: true,
      port: 61612,
      display: 'stomp+ssl://broker:61612',
    })
    expect(parseStompUrl('stomp+ssl://a%40b:p%3Ass@[::1]:61123')).toEqual({
      tls: true,
      host: '::1',
      port: 61123,
      login: 'a@b',
      passcode: 'p:ss',
      display: 'stomp+ssl://[::1]:61123',
    })
  })

  it('anything else is refused naming the setting and the accepted forms', () => {
    expect(() => parseStompUrl('https://broker:443', '--stomp')).toThrow(
      /^--stomp: the scheme https:\/\/ is not a STOMP one: use stomp:\/\/HOST:PORT \(plain\) or stomp\+ssl:\/\/HOST:PORT \(STOMP over TLS\)/,
    )
    expect(() => parseStompUrl('stomp://broker:61613/topic/x')).toThrow(
      /fts3\.stomp\.url: .* has a path or query/,
    )
    expect(() => parseStompUrl('broker:61613')).toThrow(/is not a broker URL/)
  })
})

describe('settings', () => {
  it('TLS gets a CA directory: the given one, else $X509_CERT_DIR, else the grid default', () => {
    const url = 'stomp+ssl://broker.example.org:61123'
    expect(stompTarget({ url, caDir: '/ca' }, FLAGS, {}).tls).toEqual({ caDir: '/ca' })
    expect(stompTarget({ url }, FLAGS, { X509_CERT_DIR: '/x509' }).tls).toEqual({ caDir: '/x509' })
    expect(stompTarget({ url, cert: 'c', key: 'k' }, FLAGS, {}).tls).toEqual({
      caDir: '/etc/grid-security/certificates',
      cert: 'c',
      key: 'k',
    })
    expect(stompTarget({ url: 'stomp://h:1' }, FLAGS, { X509_CERT_DIR: '/x509' }).tls).toBeUndefined()
  })

  it('asked for TLS with a plain URL, half a client certificate, a login twice: refused, naming the flags', () => {
    expect(() => stompTarget({ url: 'stomp://h:61613', cert: 'c', key: 'k' }, FLAGS)).toThrow(
      /^--stomp: --stomp-cert, --stomp-key are for STOMP over TLS but stomp:\/\/h:61613 is plain: use stomp\+ssl:\/\/h:PORT \(the broker's TLS port\), or drop them/,
    )
    expect(() => stompTarget({ url: 'ssl://h:1', key: 'k' }, FLAGS)).toThrow(
      /^--stomp-cert: missing: --stomp-key is given, and a client certificate needs both/,
    )
    expect(() => stompTarget({ url: 'ssl://u@h:1', username: 'v' }, FLAGS)).toThrow(
      /^--stomp-user: the URL --stomp names a user too/,
    )
    expect(() => stompTarget({ url: 'ssl://u:p@h:1', passwordFile: 'f' }, FLAGS)).toThrow(
      /^--stomp-password-file: the URL --stomp holds a password too/,
    )
    expect(() => stompTarget({ url: 'ssl://h:1', passwordFile: 'f' }, FLAGS)).toThrow(
      /^--stomp-password-file: a password needs a user: set --stomp-user too/,
    )
    expect(stompTarget({ url: 'ssl://h:1', username: 'aso', passwordFile: 'f' }, FLAGS)).toMatchObject({
      login: 'aso',
      passwordFile: 'f',
    })
  })
})

describe('why a connection failed', () => {
  const tls = stompTarget({ url: 'stomp+ssl://broker.example.org:61123', caDir: '/ca' }, FLAGS, {})
  const plain = stompTarget({ url: 'stomp://broker.example.org:61613' }, FLAGS, {})
  it('says what to check, naming the setting', () => {
    expect(
      explainStompError(
        coded('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'),
        tls,
      ),
    ).toBe(
      "STOMP over TLS to stomp+ssl://broker.example.org:61123: the broker's certificate is not issued by a CA of /ca (SELF_SIGNED_CERT_IN_CHAIN: self-signed certificate in certificate chain); put its CA there or set --stomp-ca-dir",
    )
    expect(
      explainStompError(
        coded('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"),
        tls,
      ),
    ).toMatch(
      /the broker's certificate is not for broker\.example\.org .*; use the host name the certificate names in --stomp$/,
    )
    expect(explainStompError(coded('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'alert'), tls)).toMatch(
      /refused the TLS handshake .*it may require a client certificate: set --stomp-cert and --stomp-key$/,
    )
    expect(
      explainStompError(coded('ERR_TLS_HANDSHAKE_TIMEOUT', 'no TLS handshake within 10 s'), tls),
    ).toMatch(/no TLS handshake within 10 s: is 61123 the broker's plain STOMP port\?/)
    expect(explainStompError(coded('ECONNREFUSED', 'connect ECONNREFUSED'), plain)).toBe(
      'STOMP to stomp://broker.example.org:61613: connection refused: is the broker running and is this its port?',
    )
  })
})
