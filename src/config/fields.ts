import { z } from 'zod'
import { parseDuration } from '../domain/duration.js'
import { parseSize } from '../domain/size.js'

/** A duration field: `30s`, `5m`, `2h`, `14d`, or a number of seconds; parsed to milliseconds. */
export const duration = (fallback: string) =>
  z
    .union([z.string(), z.number()])
    .default(fallback)
    .transform((v, ctx) => {
      try {
        return parseDuration(v)
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message.replace(/^duration: /, '') })
        return z.NEVER
      }
    })

/** A size field: `500GB`, `2TB`, `1.5TiB`, or a number of bytes; parsed to bytes. */
export const size = () =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    try {
      return parseSize(v)
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message.replace(/^size: /, '') })
      return z.NEVER
    }
  })

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost'])

/**
 * A service's base URL: https://, or http:// to this machine only (a test server), so that credentials never
 * cross a network in clear; a trailing slash dropped. `noUserInfo`: the message when the URL carries a user or
 * password (refused when given); `schemes`: what a wrong scheme is told.
 */
export const serviceUrl = (opts: { example: string; schemes: string; noUserInfo?: string }) =>
  z
    .string()
    .superRefine((v, ctx) => {
      let url: URL
      try {
        url = new URL(v)
      } catch {
        ctx.addIssue({ code: 'custom', message: `must be a URL such as ${opts.example}` })
        return
      }
      if (opts.noUserInfo !== undefined && (url.username || url.password)) {
        ctx.addIssue({ code: 'custom', message: opts.noUserInfo })
        return
      }
      if (url.protocol === 'https:') return
      if (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)) return
      ctx.addIssue({
        code: 'custom',
        message:
          url.protocol === 'http:'
            ? `http:// is allowed only for a server on this machine (127.0.0.1, [::1], localhost), not ${url.hostname}: use https://`
            : `must be an ${opts.schemes} URL`,
      })
    })
    .transform((v) => v.replace(/\/+$/, ''))
