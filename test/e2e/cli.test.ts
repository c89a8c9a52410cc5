import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { type FileLab, makeFileLab } from '../support/file-sites.js'

const CLI = path.resolve('dist/cli/main.js')

/** Runs the built CLI; `input` goes to its standard input. */
function aso(
  args: string[],
  opts: { input?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [CLI, ...args], { env: { ...process.env, ASO_USER: 'ops' } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
    child.stdin.end(opts.input ?? '')
  })
}

describe('aso CLI', () => {
  let lab: FileLab
  const lines: string[] = []
  beforeAll(async () => {
    lab = await makeFileLab({ config: { users: { alice: { groups: ['cms'] }, ops: { role: 'operator' } } } })
    for (let i = 0; i < 3; i++) {
      const w = await lab.writeOutput('SITE_A', `/store/temp/user/alice.abc/f${i}.root`, 100 + i)
      lines.push(
        JSON.stringify(
          lab.request({ user: 'alice', source: 'SITE_A', destination: 'SITE_B', name: `f${i}.root`, ...w }),
        ),
      )
    }
  })

  it('injects the valid lines of a file, rejects each bad line naming its field, and exits 1', async () => {
    const good = JSON.parse(lines[0]!)
    const bad = [
      '{"user": "alice"',
      JSON.stringify({ ...good, size: undefined }),
      JSON.stringify({ ...good, sourceLfn: '/store/temp/user/alice.abc/../x.root' }),
      JSON.stringify({ ...good, size: 'big' }),
      JSON.stringify({ ...good, destination: 'T9_NOWHERE' }),
      JSON.stringify({ ...good, destinationLfn: '/store/user/bob/x.root' }),
      JSON.stringify({ ...good, destinationLfn: 'store/user/alice/x.root' }),
    ]
    const file = path.join(lab.dir, 'requests.jsonl')
    await writeFile(file, [...lines, ...bad].join('\n'))
    const r = await aso(['--config', lab.configPath, 'inject', file])
    expect(r.code).toBe(1)
    const out = r.stdout.split('\n')
    expect(out.filter((l) => / created [0-9a-f]{32}$/.test(l))).toHaveLength(3)
    expect(out).toContainEqual(expect.stringMatching(/^line 4: rejected: \(line\): not valid JSON: /))
    expect(out).toContainEqual(expect.stringMatching(/^line 5: rejected: size: is required/))
    expect(out).toContainEqual(expect.stringMatching(/^line 6: rejected: sourceLfn: .*"\.\."/))
    expect(out).toContainEqual(expect.stringMatching(/^line 7: rejected: size: .*number/))
    expect(out).toContainEqual(
      expect.stringMatching(/^line 8: rejected: destination: unknown site "T9_NOWHERE"/),
    )
    expect(out).toContainEqual(
      expect.stringMatching(/^line 9: rejected: destinationLfn: .*outside the namespace alice/),
    )
    expect(out).toContainEqual(expect.stringMatching(/^line 10: rejected: destinationLfn: .*\/store\//))
    expect(r.stderr).toMatch(/10 lines: 3 created, 0 unchanged, 0 superseded, 7 rejected/)
  })

  it('is idempotent, and a conflicting line changes nothing already stored', async () => {
    const before = await aso(['--config', lab.configPath, 'status', '--json'])
    const conflicting = JSON.stringify({ ...JSON.parse(lines[0]!), size: 1 })
    const r = await aso(['--config', lab.configPath, 'inject', '-', '--json'], {
      input: `${lines[1]}\n${conflicting}\n`,
    })
    expect(r.code).toBe(1)
    const results = r.stdout
      .trim()
      .split('\n')
      .map((l: string) => JSON.parse(l))
    expect(results[0]).toMatchObject({ line: 1, status: 'unchanged' })
    expect(results[1]).toMatchObject({ line: 2, status: 'rejected', error: { field: 'size' } })
    const after = await aso(['--config', lab.configPath, 'status', '--json'])
    expect(JSON.parse(after.stdout)).toEqual(JSON.parse(before.stdout))
  })

  it('shows status, explains a transfer, kills and retries by task', async () => {
    const status = JSON.parse((await aso(['--config', lab.configPath, 'status', '--json'])).stdout)
    expect(status).toMatchObject({ total: 3, states: { NEW: 3 } })
    const text = (await aso(['--config', lab.configPath, 'status'])).stdout
    expect(text).toMatch(/SITE_A->SITE_B/)
    const id = (
      await aso(['--config', lab.configPath, 'inject', '--json', path.join(lab.dir, 'requests.jsonl')])
    ).stdout
      .split('\n')
      .map((l) => (l ? JSON.parse(l) : null))
      .find((r) => r?.status === 'unchanged').id
    const explained = await aso(['--config', lab.configPath, 'explain', id])
    expect(explained.code).toBe(0)
    expect(explained.stdout).toMatch(/why: queued: link SITE_A->SITE_B has room \(0\/20\)/)
    expect(explained.stdout).toMatch(/injected by cli:ops/)
    const k = await aso(['--config', lab.configPath, 'kill', '--task', 'task1'])
    expect(k.stdout).toMatch(/^3 killed/)
    const e2 = JSON.parse((await aso(['--config', lab.configPath, 'explain', id, '--json'])).stdout)
    expect(e2.record.state).toBe('KILLED')
    expect(e2.why).toMatch(/^killed at/)
    const r = await aso(['--config', lab.configPath, 'retry', '--task', 'task1'])
    expect(r.stdout).toMatch(/^3 queued again/)
  })

  it('classifies reasons as JSON', async () => {
    const r = await aso([
      'classify',
      'TRANSFER [5] TRANSFER ERROR: Copy failed (3rd pull). Last attempt: copy HTTP 507 : Insufficient Storage',
    ])
    expect(JSON.parse(r.stdout)).toMatchObject({ class: 'quota', retry: false })
  })

  it('prints one clear line and exits 3 on usage, configuration and lookup errors', async () => {
    const noTarget = await aso(['--config', lab.configPath, 'kill'])
    expect([noTarget.code, noTarget.stderr.trim()]).toEqual([
      3,
      'aso: name the transfers: --task TASK or one or more ids',
    ])
    const badConfig = path.join(lab.dir, 'bad.yaml')
    await writeFile(badConfig, 'retry: { maxAttempts: zero }\n')
    const c = await aso(['--config', badConfig, 'status'])
    expect(c.code).toBe(3)
    expect(c.stderr).toMatch(/bad\.yaml: retry\.maxAttempts: /)
    expect(c.stderr).not.toMatch(/at .*\.js/)
    const missing = await aso(['--config', lab.configPath, 'explain', '0'.repeat(32)])
    expect([missing.code, missing.stderr]).toEqual([
      3,
      expect.stringMatching(/^aso: no transfer with id 0{32}/),
    ])
    const unknown = await aso(['frobnicate'])
    expect(unknown.code).toBe(3)
  })

  it('runs the demo: every planted fault ends as planted, summary as JSON', async () => {
    const r = await aso(['demo', '--json'])
    expect(r.code).toBe(0)
    const s = JSON.parse(r.stdout)
    expect(s.total).toBe(200)
    expect(s.states.FAILED).toBe(7)
    expect(s.states.DONE).toBe(193)
    expect(s.byClass).toEqual({ 'permanent-source': 5, 'permanent-destination': 2 })
    expect(s.surprises).toEqual([])
    expect(s.seconds).toBeGreaterThan(0)
  }, 60_000)

  it('leaves, with --dir, a configuration with an operator and says how to see it in the dashboard', async () => {
    const dir = path.join(lab.dir, 'demo-kept')
    const r = await aso(['demo', '--dir', dir, '--files', '100'])
    expect(r.code, r.stderr).toBe(0)
    const config = path.join(dir, 'aso.yaml')
    expect(r.stdout).toContain(`aso serve --config ${config} --insecure-dev`)
    expect(r.stdout).toMatch(/as alice \(a user\) or ops \(the operator\)/)
    const users = (parseYaml(await readFile(config, 'utf8')) as { users: Record<string, { role?: string }> })
      .users
    expect(users.ops?.role).toBe('operator')
    expect(Object.keys(users).sort()).toEqual(['alice', 'bob', 'carol', 'ops'])
  }, 60_000)
})
