import type { Endpoint } from '../domain/endpoint.js'
import type { CopyFile, CopyMethod } from './copy-method.js'

export interface MethodChoice {
  method: CopyMethod
  source: Endpoint
  destination: Endpoint
}

/**
 * Ranks the ways to move a file: by method (HTTP-TPC, then xroot TPC, then streamed, then gfal), ties broken
 * by the sites' own order of protocols. A protocol a site does not list is never used; a third-party method
 * is used only where both ends allow TPC.
 */
export function chooseMethods(file: CopyFile, methods: readonly CopyMethod[]): MethodChoice[] {
  const choices: (MethodChoice & { order: number })[] = []
  file.sources.forEach((source, i) => {
    file.destinations.forEach((destination, j) => {
      for (const method of methods) {
        if (!method.supports(source.scheme, destination.scheme)) continue
        if (method.thirdParty && (source.tpc === false || destination.tpc === false)) continue
        choices.push({ method, source, destination, order: i + j })
      }
    })
  })
  choices.sort((a, b) => a.method.rank - b.method.rank || a.order - b.order)
  return choices.map(({ method, source, destination }) => ({ method, source, destination }))
}
