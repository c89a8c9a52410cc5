/**
 * registerOpenApi's tidyDocument: each registered schema once (the rendering the operations use, under its plain name), no `$id`
 * or `$schema`, enum-keyed records as objects; the whole document, served, is checked in
 * test/integration/openapi.test.ts.
 */
import Fastify from 'fastify'
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { type OpenApiDocument, registerOpenApi, tidyDocument } from '../../src/api/openapi.js'

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const body = (schema: object) => ({ requestBody: { content: { 'application/json': { schema } } } })
const answer = (schema: object) => ({
  responses: { 200: { description: 'ok', content: { 'application/json': { schema } } } },
})
const obj = (id: string, props: Record<string, object>, closed: boolean) => ({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: `#/components/schemas/${id}`,
  type: 'object',
  properties: props,
  required: Object.keys(props),
  ...(closed ? { additionalProperties: false } : {}),
})

describe('tidyDocument', () => {
  it('keeps the rendering the operations use, under the plain name, and drops the unused ones', () => {
    const doc = {
      paths: {
        '/in': { post: { ...body(ref('RequestInput')), ...answer(ref('Answer')) } },
        '/both': { post: { ...body(ref('SameInput')), ...answer(ref('Same')) } },
        '/differ': { post: { ...body(ref('DifferInput')), ...answer(ref('Differ')) } },
      },
      components: {
        schemas: {
          RequestInput: obj('RequestInput', { part: ref('PartInput') }, false),
          Request: obj('Request', { part: ref('Part') }, true),
          PartInput: obj('PartInput', { n: { type: 'number' } }, false),
          Part: obj('Part', { n: { type: 'number' } }, true),
          AnswerInput: obj('AnswerInput', { ok: { type: 'boolean' } }, false),
          Answer: obj('Answer', { ok: { type: 'boolean' } }, true),
          SameInput: obj('SameInput', { s: { type: 'string' } }, false),
          Same: obj('Same', { s: { type: 'string' } }, false),
          DifferInput: obj('DifferInput', { d: { type: 'string' } }, false),
          Differ: obj('Differ', { d: { type: 'string' } }, true),
        },
      },
    } as unknown as OpenApiDocument
    tidyDocument(doc)
    const schemas = doc.components!.schemas!
    expect(Object.keys(schemas).sort()).toEqual([
      'Answer',
      'Differ',
      'DifferInput',
      'Part',
      'Request',
      'Same',
    ])
    // the body's rendering (open, as zod's input mode writes it), its nested ref renamed too
    expect(schemas.Request).toEqual({
      type: 'object',
      properties: { part: ref('Part') },
      required: ['part'],
    })
    expect(schemas.Part).not.toHaveProperty('additionalProperties')
    expect(schemas.Answer).toMatchObject({ additionalProperties: false })
    const paths = doc.paths as Record<string, { post: ReturnType<typeof body> }>
    expect(paths['/in']!.post.requestBody.content['application/json'].schema).toEqual(ref('Request'))
    expect(paths['/both']!.post.requestBody.content['application/json'].schema).toEqual(ref('Same'))
    expect(paths['/differ']!.post.requestBody.content['application/json'].schema).toEqual(ref('DifferInput'))
    expect(JSON.stringify(doc)).not.toMatch(/\$id|\$schema/)
  })

  it('writes a record keyed by an enum, every key required, as an object with those properties', () => {
    const states = {
      type: 'object',
      propertyNames: { type: 'string', enum: ['NEW', 'DONE'] },
      additionalProperties: { type: 'number' },
      required: ['NEW', 'DONE'],
    }
    const partial = { ...states, required: ['NEW'] }
    const doc = { paths: { '/s': { get: answer({ type: 'object', properties: { states, partial } }) } } }
    tidyDocument(doc as unknown as OpenApiDocument)
    const schema = doc.paths['/s'].get.responses[200].content['application/json'].schema as {
      properties: Record<string, unknown>
    }
    expect(schema.properties.states).toEqual({
      type: 'object',
      properties: { NEW: { type: 'number' }, DONE: { type: 'number' } },
      required: ['NEW', 'DONE'],
      additionalProperties: false,
    })
    // a record that may lack keys stays what it is
    expect(schema.properties.partial).toEqual(partial)
  })
})

describe('registerOpenApi', () => {
  it('refuses to build the document while a shown route has no operationId, naming the route', async () => {
    const app = Fastify()
    app.setValidatorCompiler(validatorCompiler)
    app.setSerializerCompiler(serializerCompiler)
    await registerOpenApi(app, '0.0.0')
    app.get('/named', { schema: { operationId: 'getNamed', response: { 200: z.string() } } }, async () => 'x')
    app.get('/hidden', { schema: { hide: true } }, async () => 'x')
    await app.ready()
    expect(Object.keys(app.swagger().paths ?? {})).toEqual(['/named'])
    await app.close()

    const bad = Fastify()
    await registerOpenApi(bad, '0.0.0')
    bad.get('/nameless', { schema: { summary: 'no name' } }, async () => 'x')
    await bad.ready()
    expect(() => bad.swagger()).toThrow(/GET \/nameless: no operationId/)
    await bad.close()
  })
})
