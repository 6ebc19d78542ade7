import { OAuth2Client, OAuth2RequestError } from 'arctic'
import type { Config } from '../config.ts'

/** The GitHub account behind a completed sign-in: GitHub's numeric user id and login. */
export interface GitHubIdentity {
  uid: string
  login: string
}

export class GitHubSignInError extends Error {
  /** True when GitHub itself failed or was unreachable (502), false when it refused the sign-in (400). */
  constructor(message: string, readonly upstream: boolean) {
    super(message)
  }
}

export interface GitHubAdapter {
  authorizationUrl(state: string): URL
  /** Exchanges the callback's code and reads `GET /user` with the token. */
  identityFor(code: string): Promise<GitHubIdentity>
}

/**
 * GitHub's OAuth web flow through arctic's generic OAuth 2.0 client, so the endpoints come from
 * configuration (github.com by default; GitHub Enterprise or a test server otherwise). arctic's
 * `GitHub` class hard-codes github.com, which would leave tests nothing real to talk to.
 */
export function createGitHubAdapter(config: Config): GitHubAdapter | null {
  if (!config.githubClientId || !config.githubClientSecret) return null
  const client = new OAuth2Client(config.githubClientId, config.githubClientSecret, `${config.siteUrl}/complete/github/`)
  return {
    authorizationUrl(state) {
      return client.createAuthorizationURL(config.githubAuthorizeUrl, state, ['read:user'])
    },
    async identityFor(code) {
      let accessToken: string
      try {
        const tokens = await client.validateAuthorizationCode(config.githubTokenUrl, code, null)
        // GitHub answers a refused exchange with 200 and an error body (arctic's generic client
        // only reads errors from 400/401).
        const data = tokens.data as { error?: unknown; error_description?: unknown; access_token?: unknown }
        if (typeof data.error === 'string') {
          throw new GitHubSignInError(`GitHub refused the sign-in: ${typeof data.error_description === 'string' ? data.error_description : data.error}`, false)
        }
        if (typeof data.access_token !== 'string') throw new GitHubSignInError('GitHub answered the token request without a token.', true)
        accessToken = data.access_token
      } catch (err) {
        if (err instanceof GitHubSignInError) throw err
        if (err instanceof OAuth2RequestError) throw new GitHubSignInError(`GitHub refused the sign-in: ${err.description ?? err.code}`, false)
        throw new GitHubSignInError('GitHub could not be reached to complete the sign-in.', true)
      }
      let res: Response
      try {
        res = await fetch(`${config.githubApiUrl}/user`, {
          headers: { authorization: `Bearer ${accessToken}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'orgd' },
          signal: AbortSignal.timeout(10_000),
        })
      } catch {
        throw new GitHubSignInError('GitHub could not be reached to complete the sign-in.', true)
      }
      if (res.status !== 200) throw new GitHubSignInError(`GitHub answered ${res.status} when asked who signed in.`, true)
      const user = (await res.json().catch(() => null)) as { id?: unknown; login?: unknown } | null
      if (!user || (typeof user.id !== 'number' && typeof user.id !== 'string') || typeof user.login !== 'string') {
        throw new GitHubSignInError('GitHub answered with an unexpected user.', true)
      }
      return { uid: String(user.id), login: user.login }
    },
  }
}
