/** What a source file imports, read with the TypeScript compiler's parser (no type checking, no resolution). */
import { type Dirent, readdirSync } from 'node:fs'
import path from 'node:path'
import ts from 'typescript'

export type ImportKind =
  | 'import'
  | 'import type'
  | 'export from'
  | 'dynamic import'
  | 'type import()'
  | 'require'

export interface ImportSite {
  specifier: string
  /** 1-based line of the statement or call that imports. */
  line: number
  kind: ImportKind
}

const SOURCE_EXTENSIONS = ['.ts', '.tsx', '.mts']
const SKIPPED_DIRS = new Set(['node_modules', 'dist'])

/** The .ts/.tsx/.mts files under `dir` (relative to `root`), as sorted POSIX paths relative to `root`. */
export function sourceFiles(root: string, dir: string): string[] {
  const found: string[] = []
  const walk = (rel: string): void => {
    let entries: Dirent[]
    try {
      entries = readdirSync(path.join(root, rel), { withFileTypes: true })
    } catch {
      return // a folder the table names but the tree does not have yet
    }
    for (const e of entries) {
      const child = `${rel}/${e.name}`
      if (e.isDirectory()) {
        if (!SKIPPED_DIRS.has(e.name) && !e.name.startsWith('.')) walk(child)
      } else if (SOURCE_EXTENSIONS.some((x) => e.name.endsWith(x))) {
        found.push(child)
      }
    }
  }
  walk(dir.replace(/\/+$/, ''))
  return found.sort()
}

/** Every static or dynamic import of `text` whose specifier is a string literal. */
export function importsOf(fileName: string, text: string): ImportSite[] {
  const kind = fileName.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, kind)
  const sites: ImportSite[] = []
  const add = (at: ts.Node, specifier: ts.Node | undefined, k: ImportKind): void => {
    if (!specifier || !ts.isStringLiteralLike(specifier)) return
    const line = sf.getLineAndCharacterOfPosition(at.getStart(sf)).line + 1
    sites.push({ specifier: specifier.text, line, kind: k })
  }
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      add(node, node.moduleSpecifier, node.importClause?.isTypeOnly ? 'import type' : 'import')
    } else if (ts.isExportDeclaration(node)) {
      add(node, node.moduleSpecifier, 'export from')
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, node.moduleReference.expression, 'require')
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node, node.argument.literal, 'type import()')
    } else if (ts.isCallExpression(node)) {
      if (node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node, node.arguments[0], 'dynamic import')
      else if (ts.isIdentifier(node.expression) && node.expression.text === 'require') {
        add(node, node.arguments[0], 'require')
      }
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return sites
}

/** Relative or absolute specifiers point into our tree; anything else names a package and is not checked. */
export function isPathSpecifier(specifier: string): boolean {
  return specifier === '.' || specifier === '..' || /^\.\.?\//.test(specifier) || path.isAbsolute(specifier)
}
