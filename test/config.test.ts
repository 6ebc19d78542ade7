import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { CONFIG_DOC, ConfigError, loadConfig } from '../src/config.ts'

describe('config', () => {
  it('has defaults for the embedded mode', () => {
    const c = loadConfig({})
    expect(c.port).toBe(8000)
    expect(c.databaseUrl).toBeNull()
    expect(c.dataDir).toMatch(/\.orgd$/)
    expect(c.siteUrl).toBe('http://localhost:8000')
    expect(c.pgPoolIdleSeconds).toBe(300)
    expect(c.pgPreparedStatements).toBe(true)
    expect(loadConfig({ PG_PREPARED_STATEMENTS: 'false' }).pgPreparedStatements).toBe(false)
  })

  it('names the variable in every error', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(ConfigError)
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/)
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/)
    expect(() => loadConfig({ SITE_URL: 'not a url' })).toThrow(/SITE_URL/)
    expect(() => loadConfig({ LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/)
    expect(() => loadConfig({ ORGD_DEFAULT_ENTITLEMENTS: '{' })).toThrow(/ORGD_DEFAULT_ENTITLEMENTS/)
    expect(() => loadConfig({ PG_POOL_IDLE_SECONDS: '0' })).toThrow(/PG_POOL_IDLE_SECONDS/)
    expect(() => loadConfig({ PG_PREPARED_STATEMENTS: 'sometimes' })).toThrow(/PG_PREPARED_STATEMENTS/)
  })

  it('the README documents every setting', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
    for (const { name } of CONFIG_DOC) expect(readme).toContain(`| \`${name}\` |`)
  })
})
