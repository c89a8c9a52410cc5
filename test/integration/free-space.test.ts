/**
 * Free-space probes of the storage layer (issue 18, quota-aware admission) against real storage: a small tmpfs
 * for file:// (statfs), an XRootD server whose user area is a small tmpfs (`xrdfs spaceinfo`), and XrdHttp's
 * WebDAV (PROPFIND quota-available-bytes, RFC 4331). Root only for the tmpfs mounts; run inside a private
 * network namespace: scripts/in-netns.sh npx vitest run test/integration/free-space.test.ts
 */
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fileFreeSpace } from '../../src/storage/file/file-protocol.js'
import { HttpClients } from '../../src/storage/http/http-client.js'
import { httpProtocolFor } from '../../src/storage/http/http-protocol.js'
import { parseQuotaAvailable } from '../../src/storage/http/http-quota.js'
import { StorageRegistry } from '../../src/storage/registry.js'
import { rootFreeSpace } from '../../src/storage/xroot/root-protocol.js'
import { makeTestPki } from '../support/pki.js'
import { requireXrootd, startXrootdSite, type XrootdSite } from '../support/xrootd.js'

const run = promisify(execFile)
const MiB = 1 << 20
const XRD_ENV = { ...process.env, XRD_CONNECTIONRETRY: '1' }

let base = ''
let tmpfs = ''
let mountError: string | null = null
let X: XrootdSite | undefined
let clients: HttpClients | undefined

beforeAll(async () => {
  requireXrootd()
  base = await mkdtemp(path.join(os.tmpdir(), 'aso-free-'))
  tmpfs = path.join(base, 'disk')
  await mkdir(tmpfs)
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', tmpfs])
  } catch (e) {
    mountError = (e as Error).message.split('\n')[0] ?? 'mount failed'
  }
  const pki = await makeTestPki(path.join(base, 'pki'))
  X = await startXrootdSite({
    name: 'X',
    baseDir: base,
    https: { pki },
    ...(mountError ? {} : { smallDisk: { dir: '/store/user/erin', size: '2m' } }),
  })
  clients = new HttpClients()
  clients.trust(X.httpsUrl!, pki.caDir)
}, 60_000)

afterAll(async () => {
  await clients?.close()
  await X?.stop()
  if (!mountError) await run('umount', ['-l', tmpfs]).catch(() => undefined)
  if (base) await rm(base, { recursive: true, force: true })
})

describe('file:// free space (statfs)', () => {
  it('is the tmpfs size, shrinks as files are written, and a missing area is answered by its parent', async (t) => {
    if (mountError) return t.skip(`cannot mount a small tmpfs (${mountError}): run as root`)
    const area = `file://${tmpfs}/store/user/alice/`
    const empty = await fileFreeSpace(area)
    expect(empty).toEqual({ bytes: 4 * MiB, source: 'statfs', url: `file://${tmpfs}` })
    await mkdir(path.join(tmpfs, 'store/user/alice'), { recursive: true })
    await writeFile(path.join(tmpfs, 'store/user/alice/f'), Buffer.alloc(MiB, 1))
    const after = await new StorageRegistry().freeSpace(area)
    expect(after?.source).toBe('statfs')
    expect(after?.url).toBe(`file://${tmpfs}/store/user/alice`)
    expect(after!.bytes).toBeLessThanOrEqual(3 * MiB)
    expect(after!.bytes).toBeGreaterThan(2.9 * MiB)
    await rm(path.join(tmpfs, 'store/user/alice/f'))
    expect((await fileFreeSpace(area)).bytes).toBe(4 * MiB)
  })
})

describe('root:// free space (xrdfs spaceinfo)', () => {
  it("says the user area's own small disk, and asks a missing directory's parent", async (t) => {
    if (mountError) return t.skip(`cannot mount a small tmpfs (${mountError}): run as root`)
    const area = `${X!.url}//store/user/erin/`
    const free = await rootFreeSpace(area)
    expect(free).toMatchObject({ bytes: 2 * MiB, source: 'xrootd' })
    const deeper = await new StorageRegistry().freeSpace(`${X!.url}//store/user/erin/not/yet/made/`)
    expect(deeper).toEqual({ bytes: 2 * MiB, source: 'xrootd', url: `${X!.url}//store/user/erin` })
    // through the server: this process does not see the server's own mount
    const local = path.join(base, 'one.root')
    await writeFile(local, Buffer.alloc(MiB + 1000, 2))
    await run('xrdcp', ['-s', local, `${X!.url}//store/user/erin/one.root`], { env: XRD_ENV })
    const after = await rootFreeSpace(area)
    expect(after!.bytes).toBeLessThanOrEqual(MiB)
    // the rest of the server is another filesystem: its figure is not the area's
    const other = await rootFreeSpace(`${X!.url}//store/user/bob/`)
    expect(other!.bytes).not.toBe(after!.bytes)
  })

  it('a server that does not answer is an error for the caller to judge, not a figure', async () => {
    await expect(
      rootFreeSpace('root://127.0.0.1:1//store/user/erin/', { env: { XRD_CONNECTIONRETRY: '1' } }),
    ).rejects.toThrow(/DESTINATION|TRANSFER/)
  })
})

describe('davs:// free space (PROPFIND quota-available-bytes)', () => {
  it("reads RFC 4331's property, and no figure when the server leaves it out", () => {
    const answer = (props: string) =>
      `<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/a/</D:href>` +
      `<D:propstat><D:prop>${props}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>`
    expect(parseQuotaAvailable(answer('<D:quota-available-bytes>1048576</D:quota-available-bytes>'))).toBe(
      MiB,
    )
    expect(parseQuotaAvailable(answer('<lp1:quota-available-bytes>7</lp1:quota-available-bytes>'))).toBe(7)
    expect(parseQuotaAvailable(answer('<D:quota-available-bytes/>'))).toBeNull()
    expect(parseQuotaAvailable(answer('<D:getcontentlength>5</D:getcontentlength>'))).toBeNull()
  })

  it('XrdHttp 5.5 keeps no RFC 4331 properties: no figure (the admission then uses a configured quota)', async () => {
    const free = await httpProtocolFor(clients!).freeSpace!(`${X!.httpsUrl}/store/user/erin/`)
    expect(free).toBeNull()
  })

  it('a WebDAV server that keeps quotas: its figure, a missing area asked through its parent', async () => {
    // a minimal RFC 4331 server that answers quota-available-bytes for /store/user only
    const seen: string[] = []
    const server = http.createServer((req, res) => {
      let body = ''
      req.on('data', (c) => (body += c))
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${req.headers.depth} ${/quota-available-bytes/.test(body)}`)
        if (req.method !== 'PROPFIND') return res.writeHead(405).end()
        if (!/^\/store\/user\/?$/.test(req.url ?? '')) return res.writeHead(404).end()
        res
          .writeHead(207, { 'content-type': 'application/xml' })
          .end(
            `<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"><d:response><d:href>/store/user/</d:href><d:propstat>` +
              '<d:prop><d:quota-available-bytes>123456789</d:quota-available-bytes><d:quota-used-bytes>5</d:quota-used-bytes>' +
              '</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>',
          )
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as { port: number }).port
    try {
      const free = await new StorageRegistry().freeSpace(`dav://127.0.0.1:${port}/store/user/alice/`)
      expect(free).toEqual({ bytes: 123456789, source: 'webdav', url: `dav://127.0.0.1:${port}/store/user` })
      expect(seen).toEqual(['PROPFIND /store/user/alice/ 0 true', 'PROPFIND /store/user 0 true'])
    } finally {
      server.close()
    }
  })
})
