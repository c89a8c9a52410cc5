/**
 * Debian's Chromium driven by playwright-core (never a downloaded browser): headless, with the flags that keep
 * it off the network (background networking, component updates, sync) and a fresh profile of its own.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { type BrowserContext, chromium, type Page } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'

const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

export interface TestBrowser {
  context: BrowserContext
  /** console errors and uncaught exceptions of every page opened in this context */
  errors: string[]
  newPage(): Promise<Page>
  close(): Promise<void>
}

/**
 * Starts Chromium with a new empty profile; every page's console errors and page errors are collected. `tls`:
 * accept the test server's certificate, and present a client certificate to it (as a grid user's browser).
 */
export async function startChromium(
  tls: { origin: string; certPath?: string; keyPath?: string } | null = null,
): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (scripts/install-peers.sh does)`)
  }
  const profile = await mkdtemp(path.join(tmpdir(), 'aso-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1400, height: 900 },
    ...(tls
      ? {
          ignoreHTTPSErrors: true,
          ...(tls.certPath && tls.keyPath
            ? { clientCertificates: [{ origin: tls.origin, certPath: tls.certPath, keyPath: tls.keyPath }] }
            : {}),
        }
      : {}),
  })
  const errors: string[] = []
  const watch = (page: Page) => {
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()} (${page.url()})`)
    })
    page.on('pageerror', (e) => errors.push(`page error: ${e.message} (${page.url()})`))
  }
  context.on('page', watch)
  for (const p of context.pages()) watch(p)
  return {
    context,
    errors,
    newPage: () => context.newPage(),
    async close() {
      await context.close()
      await rm(profile, { recursive: true, force: true })
    },
  }
}
