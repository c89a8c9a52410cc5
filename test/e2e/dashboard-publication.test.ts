/**
 * Publication in the web dashboard, in a real browser (Debian's Chromium) against the API in process with the
 * built web UI: the task page counts publication states and retries the FAILED ones (asked first); Problems
 * lists the failed publications with class and reason, and the block the catalog refused. No page logs an
 * error. Records reach their states through the store's own operations.
 */
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestApi, type TestApi } from '../support/api.js'
import { startChromium, type TestBrowser } from '../support/chromium.js'
import { makeFileLab } from '../support/file-sites.js'
import { close, deliver, intoBlock, publishable } from '../support/publication.js'

describe('publication in the dashboard', () => {
  let api: TestApi
  let browser: TestBrowser
  const files = publishable(3, 'alice', 'pub-task')
  const id = (i: number) => files[i]!.id

  const login = async (page: Page, user: string) => {
    await page.goto(api.url)
    await page.getByLabel('Username').fill(user)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.getByTestId('who').waitFor()
  }

  beforeAll(async () => {
    const lab = await makeFileLab({
      config: {
        users: { alice: {}, ops: { role: 'operator' } },
        catalog: {
          type: 'rucio',
          url: 'http://127.0.0.1:1',
          auth: { type: 'userpass', account: 'root', username: 'svc', password: 'secret' },
        },
      },
    })
    api = await startTestApi(lab.configPath, { insecureDev: true, pollMs: 50 })
    const now = Date.now() - 60_000
    await api.store.inject(files, { now, actor: 'test', maxAttempts: 1 })
    await deliver(api.store, files, now + 1000)
    await intoBlock(api.store, 'alice', [id(0), id(1)], 'blk-dash', now + 2000)
    await close(api.store, 'blk-dash', now + 2000)
    await api.store.recordPublishFailure(
      'blk-dash',
      { failureClass: 'catalog-permanent', reason: 'Rucio has no scope user.alice', retryAt: null },
      now + 3000,
      'publisher',
    )
    browser = await startChromium()
  })
  afterAll(async () => {
    await browser?.close()
    await api?.close()
  })

  it('the task page counts publication states and retries the FAILED ones', async () => {
    const page = await browser.newPage()
    await login(page, 'alice')
    await page.goto(`${api.url}/tasks/pub-task`)
    await expect.poll(() => page.getByTestId('task-publication-FAILED').textContent()).toBe('FAILED 2')
    expect(await page.getByTestId('task-publication-PENDING').textContent()).toBe('PENDING 1')
    await page.getByRole('button', { name: 'Retry failed publication' }).click()
    const dialog = page.getByRole('dialog')
    await expect.poll(() => dialog.textContent()).toContain('2 files whose publication FAILED')
    await dialog.getByRole('button', { name: 'Retry publication' }).click()
    await expect
      .poll(() => page.locator('.notice').textContent())
      .toBe('2 files registered again (1 block), 0 PENDING again for a new block')
    await expect
      .poll(() => page.getByTestId('task-publication-PUBLISHING').textContent())
      .toBe('PUBLISHING 2')
    expect(await page.getByRole('button', { name: 'Retry failed publication' }).count()).toBe(0)
    await page.close()
    expect(browser.errors).toEqual([])
  }, 30_000)

  it('Problems lists failed publications with class and reason', async () => {
    await api.store.recordPublishFailure(
      'blk-dash',
      { failureClass: 'catalog-permanent', reason: 'Rucio has no scope user.alice', retryAt: null },
      Date.now(),
      'publisher',
    )
    const page = await browser.newPage()
    await login(page, 'alice')
    await page.goto(`${api.url}/problems`)
    const section = page.getByRole('region', { name: 'Publication failed' })
    await expect.poll(() => section.locator('tbody tr').count()).toBe(2)
    const text = await section.textContent()
    expect(text).toContain('catalog-permanent')
    expect(text).toContain('Rucio has no scope user.alice')
    expect(text).toMatch(/block blk-dash \(alice, 2 files\): FAILED after 1 failed attempt/)
    await page.close()
    expect(browser.errors).toEqual([])
  }, 30_000)
})
