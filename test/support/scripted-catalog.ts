/**
 * A catalog whose answers a loop test scripts and whose calls it reads back: the publisher's unit tests use it
 * in place of Rucio (the Rucio implementation itself is tested against the real server, rucio-catalog.test.ts).
 */
import type { BlockPublication, Catalog, CatalogBlock } from '../../src/catalog/catalog.js'

/** One scripted answer: a result, an error to throw, or a function of the block. */
export type CatalogAnswer =
  | BlockPublication
  | Error
  | ((block: CatalogBlock) => BlockPublication | Promise<BlockPublication>)

export class ScriptedCatalog implements Catalog {
  readonly type = 'scripted'
  readonly url = 'scripted://catalog'
  /** every publishBlock call, in order */
  readonly calls: CatalogBlock[] = []
  /** answers used in order; when empty, every file of the block is published */
  readonly script: CatalogAnswer[] = []

  async publishBlock(block: CatalogBlock): Promise<BlockPublication> {
    this.calls.push(block)
    const next = this.script.shift()
    if (next instanceof Error) throw next
    if (typeof next === 'function') return next(block)
    return next ?? { published: block.files.map((f) => f.id), rejected: [], ruleId: `rule-${block.name}` }
  }

  async close(): Promise<void> {}

  /** The names of the blocks published so far, with their file counts. */
  blocks(): { name: string; files: number }[] {
    return this.calls.map((c) => ({ name: c.name, files: c.files.length }))
  }
}
