/**
 * The layer check (scripts/check-layers.ts): the table of docs/ARCHITECTURE.md section 2 is the rule, every
 * kind of import between our folders is seen, and an import the table does not allow fails with its file, line
 * and folders. Fixture trees are written to a temporary directory; the last test checks this repository.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { checkLayers } from '../../scripts/layers/check.js'
import { importsOf } from '../../scripts/layers/imports.js'
import { parseLayerTable } from '../../scripts/layers/table.js'

const repoRoot = fileURLToPath(new URL('../..', import.meta.url))

const FIXTURE_DOC = `# Architecture

## 1. Before

| folder | may import |
| --- | --- |
| \`src/decoy/\` | anything |

## 2. Layers and folders

| folder | owns | may import |
| --- | --- | --- |
| \`src/domain/\` | pure rules | nothing of ours |
| \`src/store/\` | persisted state | \`domain\` |
| \`src/engines/\` | engines, in sub-folders | \`domain\`, \`store\` |
| \`src/api/\` | HTTP | \`domain\`, \`store\` |
| \`web/\` | dashboard | \`domain\` |
| \`test/\` | tests | anything |

## 3. After
`

const CLEAN_FILES: Record<string, string> = {
  'src/domain/state.ts': "import { z } from 'zod'\nexport const s = z.string()\n",
  'src/domain/id.ts': "import { createHash } from 'node:crypto'\nimport { s } from './state.js'\n",
  'src/store/db.ts': "import type { s } from '../domain/state.js'\nexport * from './rows/index.js'\n",
  'src/store/rows/index.ts': "export { s } from '../../domain/state.js'\n",
  'src/engines/fts3/client.ts': "import { local } from '../local/engine.js'\nimport '../../store/db.js'\n",
  'src/engines/local/engine.ts': 'export const local = 1\n',
  'src/api/server.ts': "import { s } from '../domain/state.js'\nconst m = await import('./routes.js')\n",
  'web/src/app.tsx':
    "import { s } from '../../src/domain/state.js'\nexport const App = () => <div>{s}</div>\n",
  'web/vite.config.ts': "import { defineConfig } from 'vite'\nexport default defineConfig({})\n",
  'test/unit/x.test.ts': "import '../../src/api/server.js'\nimport '../../web/src/app.js'\n",
}

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A fixture tree: the doc above, the clean files, then `extra` (added or replacing). */
function tree(extra: Record<string, string> = {}, doc = FIXTURE_DOC): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'aso-layers-'))
  dirs.push(root)
  const files = { 'docs/ARCHITECTURE.md': doc, ...CLEAN_FILES, ...extra }
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true })
    writeFileSync(path.join(root, rel), text)
  }
  return root
}

const messages = (root: string): string[] => checkLayers(root).problems.map((p) => p.message)

describe('the layer table', () => {
  it('is read from section 2 only, with "nothing of ours" and "anything"', () => {
    const layers = parseLayerTable(FIXTURE_DOC)
    expect(layers.map((l) => [l.folder, l.name, l.mayImport])).toEqual([
      ['src/domain/', 'domain', []],
      ['src/store/', 'store', ['domain']],
      ['src/engines/', 'engines', ['domain', 'store']],
      ['src/api/', 'api', ['domain', 'store']],
      ['web/', 'web', ['domain']],
      ['test/', 'test', undefined],
    ])
  })

  it('refuses a name that is no row, a cell it cannot read and a missing section', () => {
    expect(() => parseLayerTable(FIXTURE_DOC.replace('`domain`, `store` |', '`domain`, `stor` |'))).toThrow(
      /may import "stor", which is no row/,
    )
    expect(() => parseLayerTable(FIXTURE_DOC.replace('| nothing of ours |', '| none |'))).toThrow(
      /"may import" of `src\/domain\/` reads "none"/,
    )
    expect(() => parseLayerTable('# Architecture\n')).toThrow(/no section "## 2. Layers and folders"/)
  })

  it('of docs/ARCHITECTURE.md holds every folder with its allowed imports', () => {
    const layers = parseLayerTable(readFileSync(path.join(repoRoot, 'docs/ARCHITECTURE.md'), 'utf8'))
    const rules = Object.fromEntries(
      layers.map((l) => [l.folder, l.mayImport ? [...l.mayImport].sort() : 'any']),
    )
    const sorted = (s: string): string[] => s.split(' ').sort()
    expect(rules).toEqual({
      'src/domain/': [],
      'src/config/': sorted('domain credentials'),
      'src/credentials/': ['domain'],
      'src/stomp/': sorted('credentials domain'),
      'src/contract/': ['domain'],
      'src/storage/': sorted('domain credentials'),
      'src/sites/': sorted('domain config'),
      'src/catalog/': sorted('domain credentials'),
      'src/ingest/': sorted('domain config'),
      'src/store/': ['domain'],
      'src/engines/': sorted('domain credentials storage config stomp'),
      'src/reports/': sorted('domain config contract store sites credentials'),
      'src/agent/': sorted('domain config credentials storage sites store engines reports catalog ingest'),
      'src/api/': sorted('domain config contract credentials sites store reports'),
      'src/client/': sorted('domain contract credentials'),
      'src/sim/': sorted('domain config storage sites store engines agent'),
      'src/cli/': sorted(
        'domain config contract credentials storage sites store engines reports catalog agent api client sim',
      ),
      'web/': sorted('contract domain'),
      'packages/fts3-sim/': [],
      'packages/fts3-sim/test/': 'any',
      'test/': 'any',
      'bench/': 'any',
    })
  })
})

describe('the import scan', () => {
  it('sees static, type-only, re-export, dynamic, type import() and require imports with their lines', () => {
    const text = [
      "import { a } from './a.js'",
      "import type { B } from './b.js'",
      "export * from './c.js'",
      "export { d } from './d.js'",
      "const e = await import('./e.js')",
      "type F = import('./f.js').F",
      "const g = require('./g.js')",
      "import h = require('./h.js')",
      'const dynamic = await import(name)',
      "export const i = 'not an import'",
    ].join('\n')
    expect(importsOf('x.ts', text).map((s) => [s.line, s.kind, s.specifier])).toEqual([
      [1, 'import', './a.js'],
      [2, 'import type', './b.js'],
      [3, 'export from', './c.js'],
      [4, 'export from', './d.js'],
      [5, 'dynamic import', './e.js'],
      [6, 'type import()', './f.js'],
      [7, 'require', './g.js'],
      [8, 'require', './h.js'],
    ])
  })

  it('reads TSX and gives a multi-line import the line it starts on', () => {
    const text = "const x = 1\nimport {\n  a,\n  b,\n} from '../a.js'\nexport const C = () => <p>{a}</p>\n"
    expect(importsOf('x.tsx', text)).toEqual([{ specifier: '../a.js', line: 2, kind: 'import' }])
  })
})

describe('the layer check', () => {
  it('passes a tree that follows its table: self-imports, sub-folders, packages, web/ and test/', () => {
    const root = tree()
    const report = checkLayers(root)
    expect(report.problems).toEqual([])
    const edges = report.edges.map((e) => `${e.file}:${e.line} ${e.from.name}->${e.to.name}`)
    expect(edges).toContain('src/engines/fts3/client.ts:1 engines->engines')
    expect(edges).toContain('src/engines/fts3/client.ts:2 engines->store')
    expect(edges).toContain('web/src/app.tsx:1 web->domain')
    expect(edges.some((e) => e.startsWith('test/'))).toBe(false)
  })

  it('fails an upward import, naming the file, the line and both folders', () => {
    const root = tree({ 'src/domain/x.ts': "// the rules\nimport { y } from '../store/y.js'\n" })
    expect(messages(root)).toEqual([
      "src/domain/x.ts:2: domain may not import store ('../store/y.js'); allowed: nothing of ours",
    ])
  })

  it('counts import type, export * from, dynamic import(), type import() and require', () => {
    const root = tree({
      'src/store/bad.ts': [
        "import type { R } from '../api/routes.js'",
        "export * from '../api/server.js'",
        "const m = await import('../engines/local/engine.js')",
        "type T = import('../api/types.js').T",
        "const c = require('../../web/src/app.js')",
      ].join('\n'),
    })
    expect(messages(root)).toEqual([
      "src/store/bad.ts:1: store may not import api ('../api/routes.js'); allowed: domain",
      "src/store/bad.ts:2: store may not import api ('../api/server.js'); allowed: domain",
      "src/store/bad.ts:3: store may not import engines ('../engines/local/engine.js'); allowed: domain",
      "src/store/bad.ts:4: store may not import api ('../api/types.js'); allowed: domain",
      "src/store/bad.ts:5: store may not import web ('../../web/src/app.js'); allowed: domain",
    ])
  })

  it('judges a sub-folder as its row, and web/ as one folder', () => {
    const root = tree({
      'src/engines/fts3/client.ts': "import '../../api/server.js'\n",
      'web/src/pages/home.tsx': "import type { S } from '../../../src/store/db.js'\n",
    })
    expect(messages(root)).toEqual([
      "src/engines/fts3/client.ts:1: engines may not import api ('../../api/server.js'); allowed: domain, store",
      "web/src/pages/home.tsx:1: web may not import store ('../../../src/store/db.js'); allowed: domain",
    ])
  })

  it('fails a folder the table does not place, as importer and as imported', () => {
    const root = tree({
      'src/widgets/w.ts': "import { s } from '../domain/state.js'\n",
      'src/api/page.ts': "\n\nimport { w } from '../widgets/w.js'\n",
    })
    expect(messages(root)).toEqual([
      "src/api/page.ts:3: api may not import widgets ('../widgets/w.js'); allowed: domain, store; " +
        'widgets (src/widgets/) is not in the layer table of docs/ARCHITECTURE.md',
      'src/widgets/w.ts:1: widgets (src/widgets/) is not in the layer table of docs/ARCHITECTURE.md; add a row for it',
    ])
  })

  it('fails through the command line with exit code 1, and prints the matrix with the forbidden cell marked', async () => {
    const run = promisify(execFile)
    const root = tree({ 'src/domain/x.ts': "import { y } from '../store/y.js'\n" })
    const cli = [
      process.execPath,
      '--import',
      'tsx',
      path.join(repoRoot, 'scripts/check-layers.ts'),
      '--root',
      root,
    ]
    const failed = await run(cli[0]!, cli.slice(1), { cwd: repoRoot }).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    )
    expect(failed?.code).toBe(1)
    expect(failed?.stderr).toContain("src/domain/x.ts:1: domain may not import store ('../store/y.js')")
    const { stdout } = await run(cli[0]!, [...cli.slice(1), '--matrix'], { cwd: repoRoot })
    const rows = stdout.split('\n')
    expect(rows[0]).toBe('| from ↓ imports → | domain | store | engines | api | web |')
    expect(rows).toContain('| domain | 1 | 1 ! |  |  |  |')
    expect(rows).toContain('| engines |  | 1 | 1 |  |  |')
  })
})

// Not a fixture: src/ and web/ of this repository against its docs/ARCHITECTURE.md section 2.
it('the repository follows its layer table', () => {
  expect(messages(repoRoot)).toEqual([])
})
