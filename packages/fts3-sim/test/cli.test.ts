/** `aso-fts3-sim` as a command: usage errors exit 3; it serves until told to stop. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { simClient } from '../../../test/support/fts3.js'
import { runFts3SimCli } from '../src/cli.js'

describe('aso-fts3-sim', () => {
  it('refuses unknown options and half a TLS pair with exit code 3', async () => {
    const err: string[] = []
    const io = { out: () => {}, err: (l: string) => err.push(l) }
    expect(await runFts3SimCli(['--bogus'], io)).toBe(3)
    expect(await runFts3SimCli(['--cert', 'host.pem', '--listen', '127.0.0.1:0'], io)).toBe(3)
    expect(err.join('\n')).toMatch(/--cert and --key go together/)
  })

  it('serves an insecure DN on loopback until stopped, reading the broker from aso.yaml only when asked', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'aso-fts3-cli-'))
    try {
      await writeFile(path.join(dir, 'aso.yaml'), 'engine: fts3\n')
      const out: string[] = []
      let stop!: () => void
      const stopped = new Promise<void>((resolve) => {
        stop = resolve
      })
      const dn = '/DC=ch/DC=cern/OU=Users/CN=alice'
      const run = runFts3SimCli(
        [
          '--listen',
          '127.0.0.1:0',
          '--config',
          path.join(dir, 'aso.yaml'),
          '--insecure-dn',
          dn,
          '--vo',
          'cms',
        ],
        { out: (l) => out.push(l), err: (l) => out.push(l), stop: stopped },
      )
      while (out.length === 0) await new Promise((r) => setTimeout(r, 20))
      const url = /listening on (\S+)/.exec(out[0]!)?.[1]
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      const who = (await simClient(url!).get('/whoami')).json as Record<string, unknown>
      expect(who).toMatchObject({ user_dn: dn, vos: ['cms'], voms_cred: ['/cms/Role=NULL/Capability=NULL'] })
      stop()
      expect(await run).toBe(0)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
