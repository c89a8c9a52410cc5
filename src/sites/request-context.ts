import type { AsoConfig } from '../config/schema.js'
import { callbackUrlProblem } from '../domain/callbacks.js'
import type { Identity } from '../domain/identity.js'
import type { RequestContext } from '../domain/request.js'
import type { SiteCatalog } from './catalog.js'

/** What request validation needs, from the config and the site catalog (the CLI and the API share it). */
export function requestContext(config: AsoConfig, sites: SiteCatalog, caller: Identity): RequestContext {
  const anyUsers = Object.keys(config.users).length > 0
  return {
    caller,
    groupsOf: (user) => config.users[user]?.groups ?? (anyUsers ? [] : null),
    siteAreas: (site) => sites.areas(site),
    pfnProblem: (site, lfn) => sites.pfnProblem(site, lfn),
    callbackProblem: (url) => callbackUrlProblem(url, config.api.callbacks.allowHosts),
    catalog: config.catalog ? { blockName: config.catalog.blockName } : null,
  }
}
