/**
 * The OpenAPI 3.1 document, generated from the zod schemas the routes validate with, at `/api/openapi.json`,
 * and a browsable page at `/api/docs`. Registered before the routes: @fastify/swagger collects them as they
 * are added.
 */
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { createJsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod'

export const OPENAPI_PATH = '/api/openapi.json'
export const DOCS_PREFIX = '/api/docs'

export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'ASO: Asynchronous Stage-Out',
        description:
          'Hand over grid job outputs and learn their fate. Authenticate with an X.509 client certificate or RFC 3820 proxy, or a bearer token. Users see and act on their own transfers only; operators on everyone’s. Every error answers {"error": {"code", "message", "field"?}}. Times are epoch milliseconds, UTC.',
        version,
      },
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
    transform: createJsonSchemaTransform({ skipList: [] }),
    transformObject: jsonSchemaTransformObject,
  })
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX })
  app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger())
}
