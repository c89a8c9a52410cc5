/**
 * Delegated proxies as files for the copy tools (X509_USER_PROXY), as the FTS daemon hands url-copy the
 * proxy it stored. Written on first use and again when the user delegates anew.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { StoredCredential } from './delegation-store.js'

export class CredentialFiles {
  private readonly written = new Map<string, string>()

  private constructor(private readonly dir: string) {}

  static async create(): Promise<CredentialFiles> {
    return new CredentialFiles(await mkdtemp(path.join(os.tmpdir(), 'fts3-sim-proxies-')))
  }

  /** The path of the credential's proxy file (mode 600). */
  async pathOf(credential: StoredCredential): Promise<string> {
    const file = path.join(this.dir, `x509up_${credential.delegationId}`)
    if (this.written.get(file) !== credential.proxyPem) {
      await writeFile(file, credential.proxyPem, { mode: 0o600 })
      this.written.set(file, credential.proxyPem)
    }
    return file
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true })
  }
}
