import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { simulateCommand } from '../../src/cli/commands/simulate.js'
import { simulate } from '../../src/sim/run.js'
import { parseScenario } from '../../src/sim/scenario.js'

/**
 * A small day built to show the retry policies apart: one copy in ten fails transiently, so the original's
 * 2 h cool-off puts more than 5 % of the files past 2 h, while ASO retries after 10 minutes.
 */
const SMALL = {
  name: 'small',
  seed: 7,
  hours: 2,
  files: 2000,
  sites: 5,
  users: 20,
  failures: { transient: 0.1, downSites: 0, flakySites: 0 },
}

describe('aso simulate', () => {
  it('ends every file of every policy, and ASO beats the original baseline at p95', async () => {
    const r = await simulate(parseScenario(SMALL))
    expect(r.policies.map((p) => p.policy)).toEqual(['aso', 'original', 'synchronous'])
    for (const p of r.policies) {
      expect(p.terminal).toBe(2000)
      expect(p.delivered.files + p.failed.files).toBe(2000)
      expect(p.fairness).toBeGreaterThan(0)
      expect(p.fairness).toBeLessThanOrEqual(1)
    }
    const [aso, original, sync] = r.policies
    expect(sync!.cpuHoursLost).toBeGreaterThan(0)
    expect(aso!.cpuHoursLost).toBeNull()
    expect(original!.latencySeconds.p95).toBeGreaterThan(2 * 3600)
    expect(aso!.latencySeconds.p95).toBeLessThan(original!.latencySeconds.p95)
  }, 60_000)

  it('is deterministic: the same seed gives the same figures', async () => {
    const s = parseScenario({ ...SMALL, files: 300 })
    const a = await simulate(s, { policies: ['aso', 'synchronous'] })
    const b = await simulate(s, { policies: ['aso', 'synchronous'] })
    const figures = (x: typeof a) => x.policies.map(({ wallSeconds: _w, ...rest }) => rest)
    expect(figures(a)).toEqual(figures(b))
  }, 60_000)

  it('writes --json and the HTML report; a bad scenario names its field', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'aso-sim-test-'))
    try {
      const file = path.join(dir, 'tiny.yaml')
      const { writeFile } = await import('node:fs/promises')
      await writeFile(file, 'files: 200\nsites: 3\nusers: 4\nhours: 1\n')
      const out: string[] = []
      const write = process.stdout.write.bind(process.stdout)
      process.stdout.write = ((s: string) => out.push(s) > 0) as typeof process.stdout.write
      try {
        await simulateCommand(file, {
          json: true,
          report: path.join(dir, 'r'),
          quiet: true,
          policies: 'aso,synchronous',
        })
      } finally {
        process.stdout.write = write
      }
      const json = JSON.parse(out.join('')) as { policy: string; terminal: number }[]
      expect(json.map((p) => [p.policy, p.terminal])).toEqual([
        ['aso', 200],
        ['synchronous', 200],
      ])
      const html = await readFile(path.join(dir, 'r', 'index.html'), 'utf8')
      expect(html).toContain('<svg')
      expect(JSON.parse(await readFile(path.join(dir, 'r', 'report.json'), 'utf8')).files).toBe(200)
      await writeFile(file, 'files: 200\nsites: 1\nusers: 4\n')
      await expect(simulateCommand(file, { quiet: true })).rejects.toThrow(/sites: .*2/)
      await expect(simulateCommand('no-such-day', { quiet: true })).rejects.toThrow(/cms-day/)
      await expect(simulateCommand('cms-day', { quiet: true, policies: 'aso,lifo' })).rejects.toThrow(
        /--policies: "lifo"/,
      )
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
