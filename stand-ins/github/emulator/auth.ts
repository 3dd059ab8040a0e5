/**
 * GitHub App authentication, for several Apps: `/app/*` routes take an App JWT (RS256; its `iss` names
 * the App, and it must verify against one of that App's public keys); every other route takes an
 * installation token minted by POST /app/installations/{id}/access_tokens, for an installation of the
 * App whose JWT asks. Token validity uses the wall clock, as the signer does.
 *
 * An App may hold several keys (GitHub allows 25) so that one can be rotated without downtime: JWTs
 * verify against any key the App holds, and a deleted key's JWTs are refused from then on (401).
 * Installation tokens minted earlier live on to their expiry unless the test revokes them too.
 */
import { randomBytes } from 'node:crypto';
import { verifyAppJwt } from '../app-jwt.js';
import { error, isoSeconds, type Reply, type RouteAuth } from './http.js';
import type { InstallationState } from './state.js';

/** Who a request authenticated as: the App (JWT), or one of its installations (token). */
export type AuthResult =
  | { ok: true; appId: number; installationId: number | undefined }
  | { ok: false; message: string };

interface Token {
  readonly appId: number;
  readonly installationId: number;
  readonly expiresAt: number;
}

export class AppAuth {
  private readonly tokens = new Map<string, Token>();
  private readonly publicKeys = new Map<number, string[]>();

  constructor(
    apps: readonly { readonly appId: number; readonly publicKey: string }[],
    private readonly tokenTtlMs: number,
    private readonly installations: ReadonlyMap<number, InstallationState>,
  ) {
    for (const app of apps) {
      if (this.publicKeys.has(app.appId)) throw new Error(`App ${app.appId} is configured twice`);
      this.publicKeys.set(app.appId, [app.publicKey]);
    }
  }

  addKey(appId: number, publicKey: string): void {
    const keys = this.keysOf(appId);
    if (keys.length >= 25) throw new Error('a GitHub App holds at most 25 private keys');
    if (!keys.includes(publicKey)) keys.push(publicKey);
  }

  deleteKey(appId: number, publicKey: string, options: { revokeTokens: boolean }): void {
    const keys = this.keysOf(appId);
    const index = keys.indexOf(publicKey);
    if (index < 0) throw new Error('the App holds no such key');
    // GitHub refuses to delete an App's last key.
    if (keys.length === 1) throw new Error("an App's last private key cannot be deleted");
    keys.splice(index, 1);
    if (options.revokeTokens) {
      for (const [token, minted] of this.tokens) if (minted.appId === appId) this.tokens.delete(token);
    }
  }

  authenticate(authorization: string, needed: RouteAuth): AuthResult {
    const [scheme = '', credential = ''] = authorization.split(' ');
    if (needed === 'app-jwt') {
      if (scheme.toLowerCase() !== 'bearer')
        return { ok: false, message: 'A JSON web token could not be decoded' };
      const appId = issuerOf(credential);
      const keys = appId === undefined ? undefined : this.publicKeys.get(appId);
      if (appId === undefined || keys === undefined) return { ok: false, message: 'Integration not found' };
      const checks = keys.map((publicKey) => verifyAppJwt(credential, { appId, publicKey }));
      const failed = checks.find((c) => !c.ok);
      return checks.some((c) => c.ok) || failed === undefined
        ? { ok: true, appId, installationId: undefined }
        : { ok: false, message: failed.reason };
    }
    const token = ['token', 'bearer'].includes(scheme.toLowerCase())
      ? this.tokens.get(credential)
      : undefined;
    if (!token || token.expiresAt <= Date.now()) return { ok: false, message: 'Bad credentials' };
    return { ok: true, appId: token.appId, installationId: token.installationId };
  }

  /** An installation token, for an installation of the App that asks (another App's is not found). */
  createToken(appId: number, installationId: number): Reply {
    if (this.installations.get(installationId)?.appId !== appId) return error(404, 'Not Found');
    const token = `ghs_${randomBytes(18).toString('base64url')}`;
    const expiresAt = Date.now() + this.tokenTtlMs;
    this.tokens.set(token, { appId, installationId, expiresAt });
    return {
      status: 201,
      body: {
        token,
        expires_at: isoSeconds(expiresAt),
        permissions: { organization_self_hosted_runners: 'write', administration: 'write', actions: 'write' },
        repository_selection: 'all',
      },
    };
  }

  private keysOf(appId: number): string[] {
    const keys = this.publicKeys.get(appId);
    if (keys === undefined) throw new Error(`no App ${appId}`);
    return keys;
  }
}

/** The App id a JWT claims (`iss`), read before verifying so the right App's keys check it. */
function issuerOf(jwt: string): number | undefined {
  try {
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      iss?: unknown;
    };
    const iss = Number(claims.iss);
    return Number.isInteger(iss) && iss > 0 ? iss : undefined;
  } catch {
    return undefined;
  }
}
