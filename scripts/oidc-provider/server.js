// An OpenID provider for corral's tests and for trying remote use on one machine:
// `oidc-provider` (an OpenID Certified implementation) with the device flow, client
// credentials and refresh tokens, issuing JWT access tokens for one resource (the
// audience corral checks). Its sign-in pages are the package's development ones: any
// account listed in the configuration signs in, with any password.
//
//   node server.js CONFIG.json
//
// CONFIG.json: {"issuer": "http://127.0.0.1:PORT", "port": PORT, "host": "127.0.0.1",
//   "audience": "https://corral.test",
//   "access_token_ttl_s": 300, "refresh_token_ttl_s": 86400,
//   "keys": [JWK, ...]                       (optional: the signing keys, first one signs;
//                                             default: one new ES256 key per start)
//   "accounts": {"alice": {"groups": ["hpc"], "roles": []}},
//   "clients": [{"client_id": "corral", ...oidc-provider client metadata}]}
// It prints "listening ISSUER" on standard output once it takes requests.
// A public client's refresh tokens (token_endpoint_auth_method "none", as corral-cli)
// rotate at each use, the package's default: a short access_token_ttl_s makes the
// tests of job credentials renew, and rotate, several times in a few seconds.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider, { errors } from 'oidc-provider';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function newKey() {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'ES256', use: 'sig' };
}

const keys = cfg.keys && cfg.keys.length ? cfg.keys : [newKey()];
const accounts = cfg.accounts || {};
const accessTtlS = cfg.access_token_ttl_s || 300;

const configuration = {
  clients: cfg.clients || [],
  clientDefaults: { id_token_signed_response_alg: keys[0].alg || 'ES256' },
  jwks: { keys },
  cookies: { keys: [randomUUID()] },
  scopes: ['openid', 'offline_access', 'profile'],
  claims: { openid: ['sub'], profile: ['preferred_username', 'groups'] },
  async findAccount(_ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, groups: account.groups || [] };
      },
    };
  },
  // what corral maps to a local user, its groups and roles
  async extraTokenClaims(_ctx, token) {
    if (!token.accountId) return undefined; // client credentials: the client is the subject
    const account = accounts[token.accountId] || {};
    return {
      preferred_username: token.accountId,
      groups: account.groups || [],
      roles: account.roles || [],
    };
  },
  async issueRefreshToken(_ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  pkce: { required: () => false },
  ttl: {
    AccessToken: accessTtlS,
    ClientCredentials: accessTtlS,
    DeviceCode: 600,
    Grant: 86400,
    Interaction: 600,
    Session: 86400,
    RefreshToken: cfg.refresh_token_ttl_s || 86400,
  },
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      async defaultResource(_ctx, _client, oneOf) {
        return oneOf || cfg.audience;
      },
      async useGrantedResource() {
        return true;
      },
      async getResourceServerInfo(_ctx, resource) {
        if (resource !== cfg.audience) throw new errors.InvalidTarget();
        return {
          scope: 'corral',
          audience: cfg.audience,
          accessTokenTTL: accessTtlS,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: keys[0].alg || 'ES256' } },
        };
      },
    },
  },
};

const provider = new Provider(cfg.issuer, configuration);
provider.on('server_error', (_ctx, err) => console.error('server_error', err));
const server = provider.listen(cfg.port, cfg.host || '127.0.0.1', () => {
  console.log(`listening ${cfg.issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
