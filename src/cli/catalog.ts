import { readFileSync } from 'node:fs'
import type { Catalog } from '../catalog/catalog.js'
import { RucioCatalog } from '../catalog/rucio/index.js'
import type { AsoConfig } from '../config/schema.js'
import { AsoError } from '../domain/errors.js'

/** The catalog `aso.yaml` configures (`catalog:`), or undefined when publication is not configured. */
export function openCatalog(config: AsoConfig): Catalog | undefined {
  const c = config.catalog
  if (!c) return undefined
  return new RucioCatalog({
    url: c.url,
    account: c.auth.account,
    username: c.auth.username,
    password: c.auth.password ?? readPassword(c.auth.passwordFile!),
    timeoutMs: c.timeout,
  })
}

function readPassword(file: string): string {
  try {
    // one line; the newline an editor adds is not part of it
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '')
  } catch (e) {
    throw new AsoError(
      'invalid-config',
      `catalog.auth.passwordFile: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give the path of a file holding the Rucio password`,
      { field: 'catalog.auth.passwordFile' },
    )
  }
}
