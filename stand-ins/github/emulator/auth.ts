/**
 * GitHub App authentication: `/app/*` routes take an App JWT (RS256, checked against the App's public
 * key); every other route takes an installation token minted by POST /app/installations/{id}/access_tokens.
 * Token validity uses the wall clock, as the signer does.
 */
import { randomBytes } from 'node:crypto';
import { verifyAppJwt } from '../app-jwt.js';
import { error, isoSeconds, type Reply, type RouteAuth } from './http.js';

export type AuthResult = { ok: true; installationId: number | undefined } | { ok: false; message: string };

export class AppAuth {
  private readonly tokens = new Map<string, { installationId: number; expiresAt: number }>();

  constructor(
    private readonly appId: number,
    private readonly appPublicKey: string,
    private readonly tokenTtlMs: number,
    private readonly installations: ReadonlyMap<number, string>,
  ) {}

  authenticate(authorization: string, needed: RouteAuth): AuthResult {
    const [scheme = '', credential = ''] = authorization.split(' ');
    if (needed === 'app-jwt') {
      if (scheme.toLowerCase() !== 'bearer')
        return { ok: false, message: 'A JSON web token could not be decoded' };
      const check = verifyAppJwt(credential, { appId: this.appId, publicKey: this.appPublicKey });
      return check.ok ? { ok: true, installationId: undefined } : { ok: false, message: check.reason };
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
