#!/usr/bin/env node
// Runs any TypeScript entry point (bench, scripts) with tsx's loader.
import { register } from 'tsx/esm/api'
import { pathToFileURL } from 'node:url'
import { resolve } from 'node:path'
register()
const entry = process.argv[2]
if (!entry) { console.error('usage: tsx.mjs FILE.ts [args]'); process.exit(2) }
process.argv.splice(1, 2, resolve(entry))
await import(pathToFileURL(resolve(entry)).href)
