/** `GET /` (versions) and `GET /whoami` (docs/fts3-rest.md §1 "Identity"). */
import { whoamiBody } from '../caller.js'
import { sendJson } from '../replies.js'
import { callerOf, type SimContext } from '../sim-context.js'

const VERSIONS = {
  delegation: { major: 1, minor: 0, patch: 0 },
  api: { major: 3, minor: 13, patch: 4 },
  core: { major: '3', minor: '14', patch: '4' },
  schema: { major: 9, minor: 1, patch: 0, message: 'FTS3 test double' },
  _links: {
    curies: [{ name: 'fts', href: 'https://gitlab.cern.ch/fts/fts3' }],
    'fts:whoami': { href: '/whoami', title: 'Check user certificate' },
    'fts:joblist': {
      href: '/jobs{?vo_name,user_dn,dlg_id,state_in}',
      title: 'List of active jobs',
      templated: true,
    },
    'fts:job': {
      href: '/jobs/{id}',
      title: 'Job information',
      templated: true,
      hints: { allow: ['GET', 'DELETE'] },
    },
    'fts:jobsubmit': { href: '/jobs', hints: { allow: ['POST'], representations: ['fts:submitschema'] } },
    'fts:archive': { href: '/archive/', title: 'Archive' },
  },
}

export function registerIdentityRoutes(ctx: SimContext): void {
  ctx.routes.add('GET', '/', async (_request, reply) => sendJson(reply, 200, VERSIONS))
  ctx.routes.add('GET', '/whoami', async (request, reply) =>
    sendJson(reply, 200, whoamiBody(callerOf(ctx, request))),
  )
}
