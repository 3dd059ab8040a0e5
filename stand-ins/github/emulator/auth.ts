/**
 * GitHub App authentication: `/app/*` routes take an App JWT (RS256, checked against the App's public
 * key); every other route takes an installation token minted by POST /app/installations/{id}/access_tokens.
 * Token validity uses the wall clock, as the signer does.
 *
 * An App may hold several keys (GitHub allows 25) so that one can be rotated without downtime: JWTs
 * verify against any key the App holds, and a deleted key's JWTs are refused from then on (401).
 * Installation tokens minted earlier live on to their expiry unless the test revokes them too.
 */
import { randomBytes } from 'node:crypto';
import { verifyAppJwt } from '../app-jwt.js';
import { error, isoSeconds, type Reply, type RouteAuth } from './http.js';

export type AuthResult = { ok: true; installationId: number | undefined } | { ok: false; message: string };

export class AppAuth {
  private readonly tokens = new Map<string, { installationId: number; expiresAt: number }>();
  private readonly publicKeys: string[];

  constructor(
    private readonly appId: number,
    appPublicKey: string,
    private readonly tokenTtlMs: number,
    private readonly installations: ReadonlyMap<number, string>,
  ) {
    this.publicKeys = [appPublicKey];
  }

  addKey(publicKey: string): void {
    if (this.publicKeys.length >= 25) throw new Error('a GitHub App holds at most 25 private keys');
    if (!this.publicKeys.includes(publicKey)) this.publicKeys.push(publicKey);
  }

  deleteKey(publicKey: string, options: { revokeTokens: boolean }): void {
    const index = this.publicKeys.indexOf(publicKey);
    if (index < 0) throw new Error('the App holds no such key');
    // GitHub refuses to delete an App's last key.
    if (this.publicKeys.length === 1) throw new Error("an App's last private key cannot be deleted");
    this.publicKeys.splice(index, 1);
    if (options.revokeTokens) this.tokens.clear();
  }

  authenticate(authorization: string, needed: RouteAuth): AuthResult {
    const [scheme = '', credential = ''] = authorization.split(' ');
    if (needed === 'app-jwt') {
      if (scheme.toLowerCase() !== 'bearer')
        return { ok: false, message: 'A JSON web token could not be decoded' };
      const checks = this.publicKeys.map((publicKey) =>
        verifyAppJwt(credential, { appId: this.appId, publicKey }),
      );
      const failed = checks.find((c) => !c.ok);
      return checks.some((c) => c.ok) || failed === undefined
        ? { ok: true, installationId: undefined }
        : { ok: false, message: failed.reason };
    }
    const token = ['token', 'bearer'].includes(scheme.toLowerCase())
      ? this.tokens.get(credential)
      : undefined;
    if (!token || token.expiresAt <= Date.now()) return { ok: false, message: 'Bad credentials' };
    return { ok: true, installationId: token.installationId };
  }

  createToken(installationId: number): Reply {
    if (!this.installations.has(installationId)) return error(404, 'Not Found');
    const token = `ghs_${randomBytes(18).toString('base64url')}`;
    const expiresAt = Date.now() + this.tokenTtlMs;
    this.tokens.set(token, { installationId, expiresAt });
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
}
