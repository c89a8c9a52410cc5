/**
 * The web dashboard in a real browser (Debian's Chromium through playwright-core) against a real `aso serve
 * --insecure-dev` working on file:// sites: an operator logs in, watches the overview change live while the agent
 * delivers files (no reload), opens a task, kills it and sees its files turn KILLED; a plain user sees only her
 * own tasks and no operator button. Over HTTPS, a bearer token pasted in the login form and a browser's client
 * certificate both log in (and the token reaches the event stream). No page logs an error. With ASO_SCREENSHOTS=1 it also writes the
 * screenshots of docs/ (overview, links, task).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import path from 'node:path'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AsoClient } from '../../src/client/client.js'
import { startTestApi, type TestApi } from '../support/api.js'
import { startChromium, type TestBrowser } from '../support/chromium.js'
import { type FileLab, makeFileLab } from '../support/file-sites.js'
import { makeTestPki } from '../support/pki.js'

const CLI = path.resolve('dist/cli/main.js')
const SCREENSHOTS = process.env.ASO_SCREENSHOTS === '1' ? path.resolve('docs') : null

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

describe('the web dashboard', () => {
  let lab: FileLab
  let serve: ChildProcess
  let serveLog = ''
  let url: string
  let browser: TestBrowser
  const clients: Record<string, AsoClient> = {}
  let files = 0

  /** Writes job outputs of `user` and injects them through the API; `missing` of them are never written. */
  const injectTask = async (user: string, task: string, n: number, destination: string, missing = 0) => {
    const requests: Record<string, unknown>[] = []
    for (let i = 0; i < n; i++) {
      const name = `${task}-${++files}.root`
      const lfn = `/store/temp/user/${user}.abc/${name}`
      const w =
        i < missing
          ? { size: 1000, adler32: '00000001' }
          : await lab.writeOutput('SITE_A', lfn, 5000 + files * 97)
      requests.push(lab.request({ user, source: 'SITE_A', destination, name, task, ...w }))
    }
    const r = await clients[user]!.inject(requests)
    expect(r.results.every((x) => x.status === 'created')).toBe(true)
  }

  const login = async (page: Page, user: string) => {
    await page.goto(url)
    await expect.poll(() => page.getByText('Development mode').count()).toBe(1)
    await page.getByLabel('Username').fill(user)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.getByTestId('who').waitFor()
    expect(await page.getByTestId('who').textContent()).toContain(user)
  }

  const nav = (page: Page, name: string) => page.getByRole('navigation').getByRole('link', { name }).click()
  const shot = async (page: Page, name: string) => {
    if (SCREENSHOTS)
      await page.screenshot({ path: path.join(SCREENSHOTS, `dashboard-${name}.png`), fullPage: true })
  }

  beforeAll(async () => {
    lab = await makeFileLab({
      sites: ['SITE_A', 'SITE_B', 'SITE_C'],
      config: {
        users: { alice: { groups: ['cms'] }, bob: { groups: ['cms'] }, ops: { role: 'operator' } },
        retry: { maxAttempts: 2, backoff: { initial: '100ms', factor: 2, max: '200ms', jitter: 0 } },
      },
    })
    const port = await freePort()
    url = `http://127.0.0.1:${port}`
    serve = spawn(
      process.execPath,
      [
        CLI,
        '--config',
        lab.configPath,
        'serve',
        '--insecure-dev',
        '--listen',
        `127.0.0.1:${port}`,
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    serve.stdout!.on('data', (d) => {
      serveLog += d
    })
    serve.stderr!.on('data', (d) => {
      serveLog += d
    })
    for (const u of ['alice', 'bob', 'ops']) clients[u] = new AsoClient(url, { user: u })
    const until = Date.now() + 20_000
    for (;;) {
      try {
        await clients.ops!.whoami()
        break
      } catch (e) {
        if (Date.now() > until)
          throw new Error(`aso serve did not start: ${(e as Error).message}\n${serveLog}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    // alice's task waits on a paused link, so that there is something to kill
    const paused = await fetch(`${url}/api/v1/links/SITE_A-%3ESITE_C`, {
      method: 'POST',
      headers: { 'x-aso-user': 'ops', 'content-type': 'application/json' },
      body: JSON.stringify({ paused: true }),
    })
    expect(paused.status).toBe(200)
    await injectTask('alice', 'alice-higgs', 6, 'SITE_C')
    await injectTask('alice', 'alice-early', 3, 'SITE_B')
    browser = await startChromium()
  })

  afterAll(async () => {
    await browser?.close()
    for (const c of Object.values(clients)) await c.close()
    if (serve && serve.exitCode === null) {
      const exited = new Promise((r) => serve.once('exit', r))
      serve.kill('SIGTERM')
      await exited
    }
  })

  it('an operator watches the overview change live, opens a task and kills it', async () => {
    const page = await browser.newPage()
    await login(page, 'ops')
    await expect.poll(() => page.getByTestId('count-NEW').textContent()).toBe('6')
    await expect.poll(() => page.getByTestId('count-DONE').textContent()).toBe('3')
    // a mark that a reload would wipe: the updates below must arrive without one
    await page.evaluate(() => {
      ;(globalThis as unknown as { asoMark: number }).asoMark = 1
    })
    await injectTask('bob', 'bob-ttbar', 12, 'SITE_B', 2)
    await expect.poll(() => page.getByTestId('count-DONE').textContent(), { timeout: 20_000 }).toBe('13')
    await expect.poll(() => page.getByTestId('count-FAILED').textContent(), { timeout: 20_000 }).toBe('2')
    await expect.poll(() => page.getByTestId('hour-done').textContent()).toBe('13')
    expect(await page.evaluate(() => (globalThis as unknown as { asoMark?: number }).asoMark)).toBe(1)
    await shot(page, 'overview')

    await nav(page, 'Links')
    const pausedCell = page.locator('[data-link="SITE_A->SITE_C"]')
    await expect.poll(() => pausedCell.textContent()).toContain('paused')
    await page.locator('[data-link="SITE_A->SITE_B"]').click()
    await page.getByRole('button', { name: 'Pause link' }).waitFor()
    await shot(page, 'links')

    await nav(page, 'Tasks')
    await page.locator('tr[data-task="bob-ttbar"]').waitFor()
    await page.getByRole('link', { name: 'alice-higgs' }).click()
    await expect.poll(() => page.locator('tr[data-state="NEW"]').count()).toBe(6)
    await page.evaluate(() => {
      ;(globalThis as unknown as { asoMark: number }).asoMark = 2
    })
    await page.getByRole('button', { name: 'Kill task' }).click()
    const dialog = page.getByRole('dialog')
    await expect.poll(() => dialog.textContent()).toContain('6 files not yet terminal end KILLED')
    await dialog.getByRole('button', { name: 'Kill task' }).click()
    await expect.poll(() => page.locator('tr[data-state="KILLED"]').count(), { timeout: 10_000 }).toBe(6)
    expect(await page.locator('tr[data-state="NEW"]').count()).toBe(0)
    expect(await page.getByTestId('task-count-KILLED').textContent()).toContain('6')
    expect(await page.evaluate(() => (globalThis as unknown as { asoMark?: number }).asoMark)).toBe(2)

    // the task with failures, grouped by class with their hint
    await nav(page, 'Tasks')
    await page.getByRole('link', { name: 'bob-ttbar' }).click()
    await page.locator('.failure-class[data-class="permanent-source"]').waitFor()
    expect(await page.locator('.failure-class .hint').first().textContent()).toMatch(/rerun the job/)
    await shot(page, 'task')

    await nav(page, 'Operator actions')
    const audit = page.getByTestId('audit-table')
    await expect.poll(() => audit.textContent()).toContain('task alice-higgs')
    expect(await audit.textContent()).toContain('link-setting')
    await page.close()
  }, 60_000)

  it('a plain user sees only her own tasks and no operator button', async () => {
    const page = await browser.newPage()
    await login(page, 'alice')
    await nav(page, 'Tasks')
    await page.locator('tr[data-task="alice-higgs"]').waitFor()
    const users = await page
      .locator('tr[data-task]')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-user')))
    expect(users.length).toBeGreaterThan(0)
    expect(new Set(users)).toEqual(new Set(['alice']))
    expect(await page.locator('tr[data-task="bob-ttbar"]').count()).toBe(0)

    await nav(page, 'Overview')
    await expect.poll(() => page.getByTestId('count-DONE').textContent()).toBe('3')
    await nav(page, 'Links')
    await page.locator('[data-link="SITE_A->SITE_B"]').click()
    await page.getByRole('link', { name: 'Show its files →' }).waitFor()
    expect(await page.getByRole('button', { name: /Pause link|Resume link|Set limit/ }).count()).toBe(0)
    await nav(page, 'Users')
    await page.getByRole('cell', { name: 'alice' }).first().waitFor()
    expect(await page.getByRole('spinbutton').count()).toBe(0)
    expect(await page.getByRole('navigation').getByRole('link', { name: 'Operator actions' }).count()).toBe(0)
    await page.close()
  }, 30_000)

  it('logged no error in any page', () => {
    expect(browser.errors).toEqual([])
  })
})

describe('the web dashboard over HTTPS', () => {
  const ISSUER = 'https://iam.test.example/'
  let api: TestApi
  let token: string
  let certificate: { certPath: string; keyPath: string }
  const browsers: TestBrowser[] = []

  beforeAll(async () => {
    const lab = await makeFileLab()
    const pki = await makeTestPki(path.join(lab.dir, 'pki'))
    const ops = await pki.userCert('ops')
    certificate = { certPath: ops.certPath, keyPath: ops.keyPath }
    const pair = await generateKeyPair('ES256')
    const jwks = path.join(lab.dir, 'jwks.json')
    await writeFile(
      jwks,
      JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }),
    )
    token = await new SignJWT({ preferred_username: 'alice' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience('aso')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(pair.privateKey)
    const configured = await makeFileLab({
      dir: lab.dir,
      config: {
        users: { alice: {}, ops: { dns: [ops.dn], role: 'operator' } },
        api: {
          tls: { cert: pki.host.certPath, key: pki.host.keyPath, caDir: pki.caDir },
          tokens: { issuers: [{ issuer: ISSUER, jwks, audience: 'aso' }] },
        },
      },
    })
    api = await startTestApi(configured.configPath, { agent: true })
  })

  afterAll(async () => {
    for (const b of browsers) await b.close()
    await api?.close()
  })

  it('a bearer token pasted in the login form logs in, and live updates carry it', async () => {
    const browser = await startChromium({ origin: api.url })
    browsers.push(browser)
    const page = await browser.newPage()
    await page.goto(api.url)
    await page.getByLabel('Bearer token').fill(token)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.getByTestId('who').waitFor()
    expect(await page.getByTestId('who').textContent()).toContain('alice')
    await expect.poll(() => page.locator('.live').textContent()).toBe('live')
    expect(await page.getByRole('navigation').getByRole('link', { name: 'Operator actions' }).count()).toBe(0)
    expect(browser.errors).toEqual([])
  }, 30_000)

  it('a browser with a grid certificate is logged in without a form', async () => {
    const browser = await startChromium({ origin: api.url, ...certificate })
    browsers.push(browser)
    const page = await browser.newPage()
    await page.goto(api.url)
    await page.getByTestId('who').waitFor()
    expect(await page.getByTestId('who').textContent()).toMatch(/ops.*operator/)
    await expect.poll(() => page.locator('.live').textContent()).toBe('live')
    expect(await page.getByRole('navigation').getByRole('link', { name: 'Operator actions' }).count()).toBe(1)
    expect(browser.errors).toEqual([])
  }, 30_000)
})
