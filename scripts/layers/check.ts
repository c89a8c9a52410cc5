/** The layer check of a whole tree: the table from its docs/ARCHITECTURE.md against the imports of its sources. */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { importsOf, isPathSpecifier, sourceFiles } from './imports.js'
import { type Edge, edgeProblem, folderOf, type Problem, unplacedProblem } from './rules.js'
import { ARCHITECTURE_DOC, type Layer, parseLayerTable } from './table.js'

export interface LayerReport {
  layers: Layer[]
  /** Every import between our files from the checked folders, self-imports included, in file order. */
  edges: Edge[]
  /** What the table does not allow, in file and line order. */
  problems: Problem[]
}

/** Checks the tree at `root`: every source under the top folders of the checked rows (`src/`, `web/`). */
export function checkLayers(root: string): LayerReport {
  const layers = parseLayerTable(readFileSync(path.join(root, ARCHITECTURE_DOC), 'utf8'))
  const tops = new Set(layers.filter((l) => l.mayImport !== undefined).map((l) => l.folder.split('/')[0]!))
  const edges: Edge[] = []
  const problems: Problem[] = []
  const unplaced = new Set<string>()
  for (const file of [...tops].flatMap((top) => sourceFiles(root, top))) {
    const from = folderOf(file, layers)
    if (!from.layer && !unplaced.has(from.folder)) {
      unplaced.add(from.folder)
      problems.push(unplacedProblem(file, from))
    }
    for (const site of importsOf(file, readFileSync(path.join(root, file), 'utf8'))) {
      if (!isPathSpecifier(site.specifier)) continue
      const to = folderOf(targetOf(root, file, site.specifier), layers)
      const edge: Edge = { file, ...site, from, to }
      edges.push(edge)
      // a folder the table lacks is reported once above, not on each of its imports
      const problem = from.layer ? edgeProblem(edge) : undefined
      if (problem) problems.push(problem)
    }
  }
  return { layers, edges, problems }
}

/** The imported path relative to `root`, POSIX style (it may start with '..' when it leaves the tree). */
function targetOf(root: string, file: string, specifier: string): string {
  if (path.isAbsolute(specifier)) return path.relative(root, specifier).split(path.sep).join('/')
  return path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier))
}
