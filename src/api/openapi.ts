/**
 * The OpenAPI 3.1 document, generated from the zod schemas the routes validate with, at `/api/openapi.json`,
 * and a browsable page at `/api/docs`. Registered before the routes: @fastify/swagger collects them as they
 * are added.
 *
 * The document is made for generators (test/integration/openapi.test.ts holds it to that: Ajv 2020 strict,
 * `redocly lint`, a typed client from openapi-typescript that must compile):
 * - every operation names itself: `schema.operationId` on each route, camelCase; a route shown in the document
 *   without one makes the document fail to build, so it cannot be forgotten;
 * - one server, `/`: relative, so it resolves against wherever the document was fetched from (the API's own
 *   origin, also behind a reverse proxy or a port forward), where the configured `api.listen` (often
 *   0.0.0.0:8443) names no address a client can reach; the paths are absolute (/api/v1/…, /health);
 * - component schemas once each, without zod's `$id: "#/components/schemas/X"` (a fragment `$id` that Ajv 2020
 *   rejects) and `$schema` (the document's dialect applies); see {@link tidyDocument}.
 */
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { createJsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod'

export const OPENAPI_PATH = '/api/openapi.json'
export const DOCS_PREFIX = '/api/docs'

const zodTransform = createJsonSchemaTransform({ skipList: [] })
type TransformInput = Parameters<typeof zodTransform>[0]

export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'ASO: Asynchronous Stage-Out',
        description:
          'Hand over grid job outputs and learn their fate. Authenticate with an X.509 client certificate or RFC 3820 proxy, or a bearer token. Users see and act on their own transfers only; operators on everyone’s. Every error answers {"error": {"code", "message", "field"?}}. Times are epoch milliseconds, UTC.',
        version,
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      servers: [{ url: '/', description: 'this server: the origin this document was fetched from' }],
      components: {
        securitySchemes: {
          // openapi-types predates OpenAPI 3.1's mutualTLS scheme type
          x509: {
            type: 'mutualTLS',
            description: 'a grid user certificate or RFC 3820 proxy chain',
          } as never,
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        },
      },
      security: [{ x509: [] }, { bearer: [] }],
    },
    transform: (input: TransformInput) => {
      const out = zodTransform(input)
      const schema = out.schema as { hide?: boolean; operationId?: unknown } | undefined
      if (schema && !schema.hide && typeof schema.operationId !== 'string') {
        throw new Error(
          `${String(input.route.method)} ${input.url}: no operationId in the route's schema (every operation in ${OPENAPI_PATH} names itself, camelCase)`,
        )
      }
      return { ...out, schema: tidyRouteSchema(out.schema) }
    },
    transformObject: (input) => {
      const doc = jsonSchemaTransformObject(input)
      tidyDocument(doc as OpenApiDocument)
      return doc
    },
  })
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX })
  app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger())
}

/**
 * The route's part of the document, tidied: no part keeps the `$id` zod leaves on a schema with metadata (a
 * placeholder of fastify-type-provider-zod's), and a response that is not JSON, declared in the route as a
 * string with `contentMediaType` (the event stream's `z.string().meta({ contentMediaType: 'text/event-stream'
 * })`), is documented under that media type.
 */
function tidyRouteSchema<S>(schema: S): S {
  if (!schema || typeof schema !== 'object') return schema
  type Part = Record<string, unknown>
  const noId = (part: unknown) => {
    if (!part || typeof part !== 'object' || !('$id' in part)) return part
    const { $id: _id, ...rest } = part as Part
    return rest
  }
  const out = { ...(schema as Part) }
  for (const key of ['body', 'querystring', 'params', 'headers']) if (key in out) out[key] = noId(out[key])
  const response = out.response as Record<string, Part> | undefined
  if (response) {
    out.response = Object.fromEntries(
      Object.entries(response).map(([status, r]) => {
        const part = noId(r) as Part
        if (part.type !== 'string' || typeof part.contentMediaType !== 'string') return [status, part]
        const { contentMediaType, description, ...body } = part
        return [
          status,
          {
            description: description ?? 'Default Response',
            content: { [contentMediaType]: { schema: body } },
          },
        ]
      }),
    )
  }
  return out as S
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }
export interface OpenApiDocument {
  paths?: JsonObject
  components?: { schemas?: Record<string, JsonObject> } & Record<string, unknown>
  [key: string]: unknown
}

const REF_PREFIX = '#/components/schemas/'
/** fastify-type-provider-zod names a schema's input-mode rendering (zod 4's `io: 'input'`) `<id>Input` */
const INPUT_SUFFIX = 'Input'

/**
 * Makes the document fastify-type-provider-zod builds fit for generators, in place:
 * - each registered schema comes in two renderings, `X` (output: what answers carry) and `XInput` (input: what
 *   bodies and queries accept); kept is the one the operations use, under the plain name `X`: an `XInput` only
 *   a request body uses becomes `X`, one nothing uses goes; both stay only when both are used and differ;
 * - `$id` and `$schema` leave the component schemas;
 * - a record keyed by an enum with every key required (zod's `z.record(z.enum([…]), v)`) is written as the
 *   object it is, with one property per key, which generators type by key and strict validators accept.
 */
export function tidyDocument<D extends OpenApiDocument>(doc: D): D {
  const schemas = doc.components?.schemas ?? {}
  const used = reachableSchemas(doc)
  const rename = new Map<string, string>()
  const inputs = Object.keys(schemas).filter(
    (n) => n.endsWith(INPUT_SUFFIX) && n.slice(0, -INPUT_SUFFIX.length) in schemas,
  )
  for (const name of inputs) {
    const base = name.slice(0, -INPUT_SUFFIX.length)
    if (!used.has(name)) {
      delete schemas[name]
    } else if (!used.has(base)) {
      rename.set(name, base)
    } else if (sameSchema(schemas[name]!, schemas[base]!, inputs)) {
      rename.set(name, base)
    }
  }
  for (const [from, to] of rename) {
    const input = schemas[from]!
    delete schemas[from]
    if (!used.has(to)) schemas[to] = input
  }
  for (const name of Object.keys(schemas)) {
    const { $id: _id, $schema: _schema, ...rest } = schemas[name]!
    schemas[name] = rest
  }
  const tidied = rewrite(doc as unknown as Json, rename) as unknown as D
  Object.assign(doc, tidied)
  return doc
}

/** The component schemas the operations reach, through other component schemas too. */
function reachableSchemas(doc: OpenApiDocument): Set<string> {
  const schemas = doc.components?.schemas ?? {}
  const seen = new Set<string>()
  const queue: string[] = []
  const collect = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(collect)
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === '$ref' && typeof value === 'string' && value.startsWith(REF_PREFIX)) {
          const name = value.slice(REF_PREFIX.length)
          if (!seen.has(name)) {
            seen.add(name)
            queue.push(name)
          }
        } else collect(value)
      }
    }
  }
  collect(doc.paths)
  for (let name = queue.shift(); name !== undefined; name = queue.shift()) collect(schemas[name])
  return seen
}

/** Whether an input rendering says what the output one says, once its refs name the plain schemas. */
function sameSchema(input: JsonObject, output: JsonObject, inputs: string[]): boolean {
  const plain = new Map(inputs.map((n) => [n, n.slice(0, -INPUT_SUFFIX.length)]))
  const { $id: _a, ...i } = input
  const { $id: _b, ...o } = output
  return JSON.stringify(rewrite(i, plain)) === JSON.stringify(rewrite(o, new Map()))
}

function rewrite(node: Json, rename: Map<string, string>): Json {
  if (Array.isArray(node)) return node.map((n) => rewrite(n, rename))
  if (node === null || typeof node !== 'object') return node
  const out: JsonObject = {}
  for (const [key, value] of Object.entries(node)) {
    if (key === '$ref' && typeof value === 'string' && value.startsWith(REF_PREFIX)) {
      const name = value.slice(REF_PREFIX.length)
      out[key] = REF_PREFIX + (rename.get(name) ?? name)
    } else out[key] = rewrite(value, rename)
  }
  return enumRecordAsObject(out)
}

function enumRecordAsObject(schema: JsonObject): JsonObject {
  const { propertyNames, additionalProperties, required, properties, ...rest } = schema
  const keys = (propertyNames as JsonObject | undefined)?.enum
  if (
    schema.type !== 'object' ||
    properties !== undefined ||
    !Array.isArray(keys) ||
    !Array.isArray(required) ||
    !keys.every((k) => typeof k === 'string' && required.includes(k)) ||
    additionalProperties === undefined ||
    typeof additionalProperties === 'boolean'
  ) {
    return schema
  }
  const value = additionalProperties
  return {
    ...rest,
    properties: Object.fromEntries(keys.map((k) => [k as string, value])),
    required,
    additionalProperties: false,
  }
}
