/** vitest globalSetup: environment every test's child processes (xrdcp, xrdfs, gfal-*) inherit. */
export function setup(): void {
  // without it, a refused or broken xroot connection is retried for ~10 minutes
  process.env.XRD_CONNECTIONRETRY ??= '1'
  process.env.XRD_REQUESTTIMEOUT ??= '30'
  // the gfal-* scripts otherwise pick a python3 on PATH that lacks the Debian gfal2 modules
  process.env.GFAL_PYTHONBIN ??= '/usr/bin/python3'
}

export default setup
