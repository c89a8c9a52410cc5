/**
 * deploy/aso.service passes `systemd-analyze verify` with no warning (a misspelt hardening option is only a
 * warning to systemd, and would silently not apply), with ExecStart pointed at the built CLI.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
const ANALYZE = '/usr/bin/systemd-analyze'
const skip = existsSync(ANALYZE) ? false : `skipped: ${ANALYZE} missing (Debian package systemd)`
if (skip) console.log(skip)

function verify(unit: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(ANALYZE, ['verify', unit], (err, _stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stderr }),
    )
  })
}

describe.skipIf(skip !== false)('deploy/aso.service', () => {
  it('verifies clean, and a misspelt option is caught', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'aso-unit-'))
    try {
      const cli = path.join(repoRoot, 'dist', 'cli', 'main.js')
      const text = (await readFile(path.join(repoRoot, 'deploy', 'aso.service'), 'utf8')).replaceAll(
        '/usr/local/bin/aso',
        cli,
      )
      expect(text).toMatch(/^ExecStart=.* serve$/m)
      expect(text).toMatch(/^NoNewPrivileges=yes$/m)
      const unit = path.join(dir, 'aso.service')
      await writeFile(unit, text)
      expect(await verify(unit)).toEqual({ code: 0, stderr: '' })
      // the check itself: a wrong value is reported
      await writeFile(unit, text.replace('ProtectSystem=strict', 'ProtectSystem=strikt'))
      expect((await verify(unit)).stderr).toMatch(/ProtectSystem|protect system/i)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
