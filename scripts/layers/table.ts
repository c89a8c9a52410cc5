/**
 * The layer table of docs/ARCHITECTURE.md ("## 2. Layers and folders") read as the import rules between our
 * folders, so that the page and the check cannot drift apart. Convention: the "folder" column holds one
 * backticked folder (`src/domain/`); the "may import" column lists backticked short names (`domain`), or says
 * "nothing of ours", or "anything" (such rows, `test/` and `bench/`, are not checked).
 */

export const ARCHITECTURE_DOC = 'docs/ARCHITECTURE.md'
export const LAYERS_HEADING = '## 2. Layers and folders'

export interface Layer {
  /** The folder relative to the repository root, ending in '/': `src/domain/`, `web/`. */
  folder: string
  /** The last segment of the folder: the name the "may import" column uses. */
  name: string
  /** Short names it may import besides itself; undefined when it may import anything (not checked). */
  mayImport: readonly string[] | undefined
}

/** The table's rows, in order. Throws with the reason when the section, a column or a cell breaks the convention. */
export function parseLayerTable(markdown: string): Layer[] {
  const rows = tableRows(sectionLines(markdown))
  const [header, ...body] = rows
  if (!header) throw new Error(`${ARCHITECTURE_DOC}: no table under "${LAYERS_HEADING}"`)
  const folderColumn = columnIndex(header, 'folder')
  const importColumn = columnIndex(header, 'may import')
  const layers = body
    .filter((cells) => !cells.every((c) => /^:?-+:?$/.test(c)))
    .map((cells) => layerOf(cells[folderColumn] ?? '', cells[importColumn] ?? ''))
  checkNames(layers)
  return layers
}

function sectionLines(markdown: string): string[] {
  const lines = markdown.split(/\r?\n/)
  const start = lines.findIndex((l) => l.trim() === LAYERS_HEADING)
  if (start < 0) throw new Error(`${ARCHITECTURE_DOC}: no section "${LAYERS_HEADING}"`)
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '))
  return lines.slice(start + 1, end < 0 ? undefined : end)
}

/** The cells of the section's first table: its first run of lines that start with '|'. */
function tableRows(lines: string[]): string[][] {
  const first = lines.findIndex((l) => l.trim().startsWith('|'))
  if (first < 0) return []
  const rows: string[][] = []
  for (const line of lines.slice(first)) {
    const trimmed = line.trim()
    if (!trimmed.startsWith('|')) break
    rows.push(
      trimmed
        .replace(/^\|/, '')
        .replace(/\|$/, '')
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    )
  }
  return rows
}

function columnIndex(header: string[], name: string): number {
  const i = header.findIndex((c) => c.toLowerCase() === name)
  if (i < 0) throw new Error(`${ARCHITECTURE_DOC}: the layer table has no "${name}" column`)
  return i
}

function backticked(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.trim())
}

function layerOf(folderCell: string, importCell: string): Layer {
  const folders = backticked(folderCell)
  if (folders.length !== 1) {
    throw new Error(`${ARCHITECTURE_DOC}: layer row "${folderCell}" must hold exactly one backticked folder`)
  }
  const folder = folders[0]!.endsWith('/') ? folders[0]! : `${folders[0]}/`
  // a package's rows are named by their path inside packages/ (`fts3-sim`, `fts3-sim/test`), so that its
  // own `test/` does not clash with the repository's
  const inPackages = folder.startsWith('packages/')
  const name = inPackages ? folder.slice('packages/'.length, -1) : folder.slice(0, -1).split('/').pop()!
  return { folder, name, mayImport: allowedNames(folder, importCell) }
}

function allowedNames(folder: string, cell: string): readonly string[] | undefined {
  if (/\banything\b/i.test(cell)) return undefined
  const names = backticked(cell)
  if (names.length > 0) return names
  if (/nothing of ours/i.test(cell)) return []
  throw new Error(
    `${ARCHITECTURE_DOC}: "may import" of \`${folder}\` reads "${cell}"; ` +
      'write backticked short names, "nothing of ours" or "anything"',
  )
}

/** Short names are unique and every name a row allows is a row of the table: a typo fails loudly. */
function checkNames(layers: Layer[]): void {
  const names = new Set<string>()
  for (const l of layers) {
    if (names.has(l.name)) throw new Error(`${ARCHITECTURE_DOC}: two layer rows are named "${l.name}"`)
    names.add(l.name)
  }
  for (const l of layers) {
    for (const n of l.mayImport ?? []) {
      if (!names.has(n))
        throw new Error(`${ARCHITECTURE_DOC}: \`${l.folder}\` may import "${n}", which is no row`)
    }
  }
}
