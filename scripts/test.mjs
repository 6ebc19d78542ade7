#!/usr/bin/env node
// Runs every suite on PGlite, then on PostgreSQL, and ends with the one line CI reads:
// "N passed, N failed". Extra arguments go to vitest (e.g. a file filter).
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const kinds = (process.env.TEST_DBS ?? 'pglite,postgres').split(',').map((s) => s.trim()).filter(Boolean)
const extra = process.argv.slice(2)
const outDir = join(process.cwd(), '.test-data')
mkdirSync(outDir, { recursive: true })

let passed = 0
let failed = 0
let ok = true
for (const kind of kinds) {
  const out = join(outDir, `results-${kind}.json`)
  rmSync(out, { force: true })
  console.log(`\n=== ${kind} ===`)
  const res = spawnSync(
    process.execPath,
    ['node_modules/vitest/vitest.mjs', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...extra],
    { stdio: 'inherit', env: { ...process.env, TEST_DB: kind } },
  )
  if (!existsSync(out)) {
    console.error(`vitest wrote no results for ${kind} (exit ${res.status})`)
    failed += 1
    ok = false
    continue
  }
  const r = JSON.parse(readFileSync(out, 'utf8'))
  passed += r.numPassedTests
  // A suite that fails to load counts as a failure even though it ran no test.
  failed += r.numFailedTests + (r.numFailedTestSuites > 0 && r.numFailedTests === 0 ? r.numFailedTestSuites : 0)
  if (res.status !== 0) ok = false
  console.log(`${kind}: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`)
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(ok && failed === 0 && passed > 0 ? 0 : 1)
