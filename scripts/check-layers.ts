/**
 * Checks the imports between our folders against the layer table of docs/ARCHITECTURE.md (section 2).
 *   node --import tsx scripts/check-layers.ts [--root DIR] [--matrix]
 * Prints each import the table does not allow and exits 1 if any; --matrix prints the folder import matrix
 * as Markdown instead (exit 0). Exit 2 when the table itself cannot be read.
 */
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { checkLayers } from './layers/check.js'
import { importMatrix } from './layers/matrix.js'

const { values } = parseArgs({
  options: {
    root: { type: 'string', default: fileURLToPath(new URL('..', import.meta.url)) },
    matrix: { type: 'boolean', default: false },
  },
})

try {
  const report = checkLayers(values.root)
  if (values.matrix) {
    console.log(importMatrix(report))
  } else {
    for (const p of report.problems) console.error(p.message)
    if (report.problems.length > 0) {
      console.error(`${report.problems.length} import(s) break the layer table of docs/ARCHITECTURE.md`)
      process.exitCode = 1
    }
  }
} catch (err) {
  console.error(`check-layers: ${err instanceof Error ? err.message : String(err)}`)
  process.exitCode = 2
}
