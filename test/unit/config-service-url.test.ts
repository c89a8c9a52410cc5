/** Service URLs in aso.yaml (catalog, CouchDB): https://, or http:// to this machine only, credentials never in them. */
import { describe, expect, it } from 'vitest'
import { serviceUrl } from '../../src/config/fields.js'

const couch = serviceUrl({
  example: 'https://couch.example.org:6984',
  schemes: 'http(s)://',
  noUserInfo: 'must not carry a user or password: put them in credentialsFile (user:password)',
})
const message = (v: string): string | undefined => couch.safeParse(v).error?.issues[0]?.message

describe('serviceUrl', () => {
  it('takes https:// anywhere and http:// on this machine, without the trailing slash', () => {
    expect(couch.parse('https://couch.example.org:6984/')).toBe('https://couch.example.org:6984')
    expect(couch.parse('http://127.0.0.1:5984')).toBe('http://127.0.0.1:5984')
    expect(couch.parse('http://[::1]:5984')).toBe('http://[::1]:5984')
  })

  it('refuses plain http to another host, other schemes, credentials in the URL and non-URLs, saying why', () => {
    expect(message('http://couch.example.org:5984')).toMatch(
      /only for a server on this machine.*use https:\/\//,
    )
    expect(message('ftp://couch.example.org')).toBe('must be an http(s):// URL')
    expect(message('https://admin:secret@couch.example.org')).toMatch(/credentialsFile/)
    expect(message('couch')).toBe('must be a URL such as https://couch.example.org:6984')
  })
})
