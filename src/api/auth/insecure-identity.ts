import type { FastifyRequest } from 'fastify'
import type { AsoConfig } from '../../config/schema.js'
import { AsoError } from '../../domain/errors.js'
import { type Caller, identityOf, USERNAME } from './users.js'

export const INSECURE_USER_HEADER = 'x-aso-user'

/**
 * `--insecure-dev` (plain HTTP on loopback, for one-machine trials): the caller names themselves in the
 * X-ASO-User header. Roles still come from aso.yaml and every authorization rule still applies.
 */
export function insecureCaller(config: AsoConfig, request: FastifyRequest): Caller {
  const header = request.headers[INSECURE_USER_HEADER]
  const name = Array.isArray(header) ? header[0] : header
  if (name === undefined || name === '') {
    throw new AsoError(
      'unauthenticated',
      'no identity: this ASO runs with --insecure-dev; send your username in the X-ASO-User header (the aso CLI sends $ASO_USER, else your login name)',
    )
  }
  if (!USERNAME.test(name)) {
    throw new AsoError('unauthenticated', 'X-ASO-User must be a username of 1-64 of A-Z a-z 0-9 . _ -')
  }
  return { identity: identityOf(config, name), method: 'insecure-dev' }
}
