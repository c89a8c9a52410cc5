/** The layer table applied to one import: which folder a path belongs to, and whether the edge is allowed. */

import type { ImportKind } from './imports.js'
import { ARCHITECTURE_DOC, type Layer } from './table.js'

export interface Folder {
  /** The table's short name (`engines`), or for a folder the table lacks, its last segment. */
  name: string
  /** `src/engines/`; for a file outside any folder, the file's own path. */
  folder: string
  /** Its table row; undefined when the table does not place it. */
  layer: Layer | undefined
}

/** One import of one of our files by another, with the folders on both ends. */
export interface Edge {
  file: string
  line: number
  specifier: string
  kind: ImportKind
  from: Folder
  to: Folder
}

export interface Problem {
  file: string
  line: number
  from: string
  /** The imported folder; absent for a source folder the table does not place. */
  to?: string
  /** `path/to/file.ts:LINE: …`, as printed. */
  message: string
}

/**
 * The folder a POSIX path relative to the repository root belongs to: the longest table folder it lies in
 * (sub-folders belong to their row: src/engines/fts3 is `engines`). Outside the table: `src/<name>/` under
 * src, else its top folder.
 */
export function folderOf(relPath: string, layers: readonly Layer[]): Folder {
  let best: Layer | undefined
  for (const l of layers) {
    if (relPath.startsWith(l.folder) && (!best || l.folder.length > best.folder.length)) best = l
  }
  if (best) return { name: best.name, folder: best.folder, layer: best }
  const segments = relPath.split('/')
  const depth = segments[0] === 'src' ? 2 : 1
  if (segments.length <= depth) return { name: relPath, folder: relPath, layer: undefined }
  return { name: segments[depth - 1]!, folder: `${segments.slice(0, depth).join('/')}/`, layer: undefined }
}

/** A folder may import itself, and a row that says "anything" is not checked. */
export function isAllowed(edge: Edge): boolean {
  if (edge.from.folder === edge.to.folder) return true
  const rule = edge.from.layer?.mayImport
  if (edge.from.layer && rule === undefined) return true
  return edge.to.layer !== undefined && (rule ?? []).includes(edge.to.name)
}

const notPlaced = (f: Folder): string =>
  `${f.name} (${f.folder}) is not in the layer table of ${ARCHITECTURE_DOC}`

/** The problem with an import edge, or undefined when the table allows it. */
export function edgeProblem(edge: Edge): Problem | undefined {
  if (isAllowed(edge)) return undefined
  const { from, to } = edge
  const rule = from.layer?.mayImport ?? []
  const allowed = rule.length > 0 ? rule.join(', ') : 'nothing of ours'
  const why = !from.layer ? `; ${notPlaced(from)}` : !to.layer ? `; ${notPlaced(to)}` : ''
  const message =
    `${edge.file}:${edge.line}: ${from.name} may not import ${to.name} ('${edge.specifier}'); ` +
    `allowed: ${allowed}${why}`
  return { file: edge.file, line: edge.line, from: from.name, to: to.name, message }
}

/** The problem of a source file whose folder the table does not place (reported once per folder). */
export function unplacedProblem(file: string, folder: Folder): Problem {
  return { file, line: 1, from: folder.name, message: `${file}:1: ${notPlaced(folder)}; add a row for it` }
}
