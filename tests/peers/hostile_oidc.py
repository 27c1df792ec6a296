"""A small OpenID provider over real HTTP that misbehaves on purpose (OIDC Core §3.1, §5.3).

oidc-provider-mock is an honest provider; the sign-in must also hold against a
hostile or broken one. This one serves discovery, JWKS, an authorization
endpoint that redirects straight back with a code, a token endpoint and
userinfo, and can be told to:

* `id_token_mode`: "good" (RS256, our client id, the request's nonce),
  "bad_signature" (signed with a key it does not publish), "wrong_audience",
  "wrong_issuer", "expired", "garbage" (not a JWT at all), "none" (no
  id_token in the token response);
* `userinfo_sub`: answer userinfo about another subject than the ID token's;
* `userinfo_claims`: what else userinfo says (e.g. a roles claim).

The ID token deliberately carries no roles claim, so the app must read
userinfo, which is where a provider can lie about the subject.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey


class HostileOIDC:
    def __init__(self, client_id: str, sub: str = "alice"):
        self.client_id = client_id
        self.sub = sub
        self.id_token_mode = "good"
        self.userinfo_sub: str | None = None
        self.userinfo_claims: dict = {}
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
        self._codes: dict[str, str | None] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ tokens

    def _id_token(self, nonce: str | None) -> str | None:
        mode = self.id_token_mode
        if mode == "none":
            return None
        if mode == "garbage":
            return "not-a-jwt"
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": self.sub, "aud": self.client_id, "iat": now, "exp": now + 300,
                  "email": f"{self.sub}@hostile.test"}
        if nonce:
            claims["nonce"] = nonce
        if mode == "wrong_audience":
            claims["aud"] = "someone-else"
        if mode == "wrong_issuer":
            claims["iss"] = "https://evil.example"
        if mode == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        key = self.other_key if mode == "bad_signature" else self.key
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _json(self, body, status=200):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                url = urlsplit(self.path)
                if url.path == "/.well-known/openid-configuration":
                    return self._json({
                        "issuer": fake.issuer,
                        "authorization_endpoint": f"{fake.issuer}/authorize",
                        "token_endpoint": f"{fake.issuer}/token",
                        "userinfo_endpoint": f"{fake.issuer}/userinfo",
                        "jwks_uri": f"{fake.issuer}/jwks",
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                    })
                if url.path == "/jwks":
                    return self._json({"keys": [fake.key.as_dict(private=False)]})
                if url.path == "/authorize":
                    q = {k: v[0] for k, v in parse_qs(url.query).items()}
                    code = secrets.token_urlsafe(12)
                    fake._codes[code] = q.get("nonce")
                    self.send_response(302)
                    self.send_header("Location", f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}")
                    self.end_headers()
                    return None
                if url.path == "/userinfo":
                    if not self.headers.get("Authorization", "").startswith("Bearer "):
                        return self._json({"error": "invalid_token"}, 401)
                    return self._json({"sub": fake.userinfo_sub or fake.sub, **fake.userinfo_claims})
                return self._json({"error": "not found"}, 404)

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlsplit(self.path).path != "/token" or form.get("code") not in fake._codes:
                    return self._json({"error": "invalid_grant"}, 400)
                nonce = fake._codes.pop(form["code"])
                body = {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300}
                id_token = fake._id_token(nonce)
                if id_token is not None:
                    body["id_token"] = id_token
                return self._json(body)

        return Handler
