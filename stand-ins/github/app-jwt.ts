/**
 * GitHub App JWTs as GitHub checks them: RS256 over `header.payload`, signed with the App's private key,
 * `iss` the App id, `exp` in the future and at most 10 minutes after `iat`. Also mints test key pairs
 * (PKCS#1, the format GitHub hands out) so no key is ever committed.
 *
 * Times here are the wall clock, because the signer (universal-github-app-jwt) uses it.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject, verify } from 'node:crypto';

export interface AppKeyPair {
  /** PEM, PKCS#1 (`BEGIN RSA PRIVATE KEY`), as GitHub's App settings page provides it. */
  readonly privateKey: string;
  readonly publicKey: string;
}

export function generateAppKeyPair(): AppKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKey, publicKey };
}

export type JwtCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const maxLifetimeSeconds = 10 * 60;
/** GitHub tolerates some skew; the signer back-dates `iat` by 30 s for that reason. */
const skewSeconds = 60;

function decodeSegment(segment: string): unknown {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
}

export function verifyAppJwt(
  token: string,
  app: { readonly appId: number; readonly publicKey: string | KeyObject },
  nowMs = Date.now(),
): JwtCheck {
  const parts = token.split('.');
  const [header, payload, signature] = parts;
  if (parts.length !== 3 || !header || !payload || !signature) return { ok: false, reason: 'not a JWT' };
  let claims: { iss?: unknown; iat?: unknown; exp?: unknown };
  try {
    const head = decodeSegment(header) as { alg?: unknown };
    if (head.alg !== 'RS256') return { ok: false, reason: `algorithm ${String(head.alg)} is not RS256` };
    claims = decodeSegment(payload) as typeof claims;
  } catch {
    return { ok: false, reason: 'malformed JWT' };
  }
  const key = typeof app.publicKey === 'string' ? createPublicKey(app.publicKey) : app.publicKey;
  const signed = verify(
    'RSA-SHA256',
    Buffer.from(`${header}.${payload}`),
    key,
    Buffer.from(signature, 'base64url'),
  );
  if (!signed) return { ok: false, reason: 'signature does not match the App public key' };
  if (String(claims.iss) !== String(app.appId)) return { ok: false, reason: "'iss' is not this App" };
  const now = Math.floor(nowMs / 1000);
  if (typeof claims.iat !== 'number' || claims.iat > now + skewSeconds) {
    return {
      ok: false,
      reason:
        "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
    };
  }
  if (typeof claims.exp !== 'number' || claims.exp <= now)
    return { ok: false, reason: "'Expiration time' claim ('exp') is in the past" };
  if (claims.exp - claims.iat > maxLifetimeSeconds + skewSeconds) {
    return { ok: false, reason: "'Expiration time' claim ('exp') is too far in the future" };
  }
  return { ok: true };
}
