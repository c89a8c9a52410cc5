import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

let runDir: string | undefined

/** vitest globalSetup: environment every test's child processes (xrdcp, xrdfs, gfal-*) inherit. */
export function setup(): void {
  // without it, a refused or broken xroot connection is retried for ~10 minutes
  process.env.XRD_CONNECTIONRETRY ??= '1'
  process.env.XRD_REQUESTTIMEOUT ??= '30'
  // the gfal-* scripts otherwise pick a python3 on PATH that lacks the Debian gfal2 modules
  process.env.GFAL_PYTHONBIN ??= '/usr/bin/python3'
  // every temp directory of this run (sites, stores, servers: gigabytes in a full run) under one that goes at
  // the end; readable by others, as the servers run as their own users (xrootd, postgres)
  runDir = mkdtempSync(path.join(tmpdir(), 'aso-run-'))
  chmodSync(runDir, 0o755)
  process.env.TMPDIR = runDir
}

export function teardown(): void {
  if (runDir) rmSync(runDir, { recursive: true, force: true })
}
