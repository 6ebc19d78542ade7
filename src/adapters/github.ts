import { OAuth2Client, OAuth2RequestError } from 'arctic'
import type { Config } from '../config.ts'

/** The GitHub account behind a completed sign-in: GitHub's numeric user id and login. */
export interface GitHubIdentity {
  uid: string
  login: string
}

export class GitHubSignInError extends Error {}

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
        accessToken = (await client.validateAuthorizationCode(config.githubTokenUrl, code, null)).accessToken()
      } catch (err) {
        if (err instanceof OAuth2RequestError) throw new GitHubSignInError(`GitHub refused the sign-in: ${err.description ?? err.code}`)
        throw new GitHubSignInError('GitHub could not be reached to complete the sign-in.')
      }
      let res: Response
      try {
        res = await fetch(`${config.githubApiUrl}/user`, {
          headers: { authorization: `Bearer ${accessToken}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'orgd' },
          signal: AbortSignal.timeout(10_000),
        })
      } catch {
        throw new GitHubSignInError('GitHub could not be reached to complete the sign-in.')
      }
      if (res.status !== 200) throw new GitHubSignInError(`GitHub answered ${res.status} when asked who signed in.`)
      const user = (await res.json().catch(() => null)) as { id?: unknown; login?: unknown } | null
      if (!user || (typeof user.id !== 'number' && typeof user.id !== 'string') || typeof user.login !== 'string') {
        throw new GitHubSignInError('GitHub answered with an unexpected user.')
      }
      return { uid: String(user.id), login: user.login }
    },
  }
}
