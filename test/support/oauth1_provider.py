"""An OAuth 1.0a provider for the tests, built on oauthlib (Debian's python3-oauthlib), not on our own code.

The three legs of RFC 5849 and a protected API on 127.0.0.1, each served by oauthlib's own endpoint class with
its default checks on: protocol parameters in exactly one place (section 3.5), a timestamp within 600 s, a nonce
used once (per consumer, timestamp and token), oauthlib's formats for keys, tokens, nonces and verifiers, and
HMAC-SHA1, RSA-SHA1 and PLAINTEXT signatures. Only `enforce_ssl` is off (plain HTTP on loopback). The user at
the authorization step approves at once, or declines when told to.

Started by test/support/oauth1-provider.ts: stdin's first line is the JSON configuration (clients, already
issued access tokens); it answers {"port": N} on stdout and exits when stdin closes. Paths: /oauth/request_token,
/oauth/authorize, /oauth/access_token; /__provider/* are the test's own (state, script, decline-next); any
other path is the protected API, which echoes what it received once oauthlib has verified the request.
"""
import functools
import hmac
import json
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from oauthlib.oauth1 import (AccessTokenEndpoint, AuthorizationEndpoint, RequestTokenEndpoint, RequestValidator,
                             ResourceEndpoint)
from oauthlib.oauth1.rfc5849 import SIGNATURE_HMAC_SHA1, SIGNATURE_PLAINTEXT, SIGNATURE_RSA_SHA1, errors

CONFIG = json.loads(sys.stdin.readline())
LOCK = threading.Lock()


@functools.cache
def throwaway_public_key():
    # For RSA-SHA1 requests of an unknown consumer: oauthlib verifies against some key either way (no timing leak).
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


class Store:
    def __init__(self, config):
        self.clients = {client['key']: client for client in config.get('clients', [])}
        self.request_tokens = {}  # token -> {client, secret, callback, verifier}
        self.access_tokens = {entry['token']: {'client': entry['client'], 'secret': entry['secret']} for entry in config.get('access_tokens', [])}
        self.nonces = set()
        self.issued = []  # every secret this provider handed out or was given, for the suite's log search
        self.accepted = []
        self.refused = []
        self.scripts = {}  # path -> list of answers for its next signed calls
        self.decline_next = False


STORE = Store(CONFIG)
DUMMY_CLIENT = 'dummyclientkey0000000000'
DUMMY_TOKEN = 'dummytoken00000000000000'


class Validator(RequestValidator):
    """In-memory storage behind oauthlib's checks; every method answers from STORE only."""

    enforce_ssl = False
    allowed_signature_methods = (SIGNATURE_HMAC_SHA1, SIGNATURE_RSA_SHA1, SIGNATURE_PLAINTEXT)
    dummy_client = DUMMY_CLIENT
    dummy_request_token = DUMMY_TOKEN
    dummy_access_token = DUMMY_TOKEN

    def __init__(self):
        super().__init__()
        self.problem = None  # why the last refusal happened, when oauthlib's validator_log cannot say

    def validate_client_key(self, client_key, request):
        return client_key in STORE.clients

    def get_client_secret(self, client_key, request):
        return STORE.clients.get(client_key, {}).get('secret', 'dummy-secret')

    def get_rsa_key(self, client_key, request):
        return STORE.clients.get(client_key, {}).get('rsa_public_key') or throwaway_public_key()

    def validate_timestamp_and_nonce(self, client_key, timestamp, nonce, request, request_token=None, access_token=None):
        seen = (client_key, timestamp, nonce, request_token or access_token)
        if seen in STORE.nonces:
            self.problem = 'nonce_used'
            return False
        STORE.nonces.add(seen)
        return True

    def get_default_realms(self, client_key, request):
        return []

    def validate_requested_realms(self, client_key, realms, request):
        return not realms

    def validate_redirect_uri(self, client_key, redirect_uri, request):
        registered = STORE.clients.get(client_key, {}).get('callback')
        if redirect_uri == 'oob' or registered is None:
            return True
        # Like the providers that register a callback: the same URL, any query (our state travels there).
        return urlsplit(redirect_uri)._replace(query='').geturl() == registered

    def save_request_token(self, token, request):
        STORE.request_tokens[token['oauth_token']] = {'client': request.client_key, 'secret': token['oauth_token_secret'], 'callback': request.redirect_uri, 'verifier': None}
        STORE.issued.append(token['oauth_token_secret'])

    def verify_request_token(self, token, request):
        entry = STORE.request_tokens.get(token)
        return entry is not None and entry['verifier'] is None

    def get_realms(self, token, request):
        return []  # this provider has no realms (scopes)

    def verify_realms(self, token, realms, request):
        return not realms

    def save_verifier(self, token, verifier, request):
        STORE.request_tokens[token]['verifier'] = verifier['oauth_verifier']
        STORE.issued.append(verifier['oauth_verifier'])

    def get_redirect_uri(self, token, request):
        return STORE.request_tokens[token]['callback']

    def validate_request_token(self, client_key, token, request):
        entry = STORE.request_tokens.get(token)
        return entry is not None and entry['client'] == client_key

    def validate_verifier(self, client_key, token, verifier, request):
        entry = STORE.request_tokens.get(token)
        return entry is not None and entry['verifier'] is not None and hmac.compare_digest(entry['verifier'], verifier)

    def get_request_token_secret(self, client_key, token, request):
        entry = STORE.request_tokens.get(token)
        return entry['secret'] if entry and entry['client'] == client_key else 'dummy-secret'

    def invalidate_request_token(self, client_key, request_token, request):
        STORE.request_tokens.pop(request_token, None)

    def save_access_token(self, token, request):
        STORE.access_tokens[token['oauth_token']] = {'client': request.client_key, 'secret': token['oauth_token_secret']}
        STORE.issued.append(token['oauth_token_secret'])

    def validate_access_token(self, client_key, token, request):
        entry = STORE.access_tokens.get(token)
        return entry is not None and entry['client'] == client_key

    def get_access_token_secret(self, client_key, token, request):
        entry = STORE.access_tokens.get(token)
        return entry['secret'] if entry and entry['client'] == client_key else 'dummy-secret'

    def validate_realms(self, client_key, token, request, uri=None, realms=None):
        return True


VALIDATOR = Validator()


class Kept:
    """Keeps the request an endpoint validated, so a refusal can say which check failed."""

    last = None


class RequestTokens(RequestTokenEndpoint):
    def validate_request_token_request(self, request):
        Kept.last = request
        return super().validate_request_token_request(request)


class AccessTokens(AccessTokenEndpoint):
    def validate_access_token_request(self, request):
        Kept.last = request
        return super().validate_access_token_request(request)


REQUEST_TOKENS = RequestTokens(VALIDATOR)
AUTHORIZATION = AuthorizationEndpoint(VALIDATOR)
ACCESS_TOKENS = AccessTokens(VALIDATOR)
RESOURCES = ResourceEndpoint(VALIDATOR)

# The OAuth Problem Reporting names providers answer with (oauth_problem), per failed check of oauthlib's log.
PROBLEMS = (('client', 'consumer_key_unknown'), ('resource_owner', 'token_rejected'), ('verifier', 'verifier_invalid'),
            ('callback', 'parameter_rejected'), ('realm', 'permission_denied'), ('signature', 'signature_invalid'))


def problem_of(request):
    log = getattr(request, 'validator_log', {}) if request is not None else {}
    for check, problem in PROBLEMS:
        if log.get(check) is False:
            return problem
    return VALIDATOR.problem or 'signature_invalid'


def description_of(error):
    # oauthlib builds a few descriptions as (format, argument) tuples.
    description = error.description
    if isinstance(description, tuple):
        description = description[0] % description[1:]
    return description


def accepted_entry(method, path, request):
    signature_type, _, _ = RESOURCES._get_signature_type_and_params(request)
    return {'method': method, 'path': path, 'signature_type': signature_type, 'oauth_params': request.oauth_params,
            'params': [[name, value] for name, value in request.params if not name.startswith('oauth_')]}


def malformed_problem(description, error=None):
    if (description or '').startswith('Timestamp given is invalid'):
        return 'timestamp_refused'
    return 'signature_method_rejected' if isinstance(error, errors.InvalidSignatureMethodError) else 'parameter_rejected'


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.handle_any()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def read_body(self):
        if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b';')[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                        pass
                    return b''.join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get('Content-Length') or 0))

    def answer(self, status, body=b'', headers=None):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)

    def form(self, status, fields, headers=None):
        self.answer(status, urlencode(fields), {'Content-Type': 'application/x-www-form-urlencoded', **(headers or {})})

    def handle_any(self):
        raw = self.read_body()
        with LOCK:
            VALIDATOR.problem = None
            Kept.last = None
            try:
                self.route(raw)
            except Exception as error:  # a crash must say why, not leave the test guessing
                traceback.print_exc()
                self.form(500, {'oauth_problem': 'provider_crashed', 'oauth_problem_advice': repr(error)})

    def route(self, raw):
        uri = f'http://127.0.0.1:{self.server.server_port}{self.path}'
        path = urlsplit(self.path).path
        headers = {name: value for name, value in self.headers.items()}
        try:
            body = raw.decode('utf-8')
        except UnicodeDecodeError:
            body = ''
        if path == '/__provider/state':
            state = {'issued': STORE.issued, 'accepted': STORE.accepted, 'refused': STORE.refused,
                     'access_tokens': len(STORE.access_tokens) - len(CONFIG.get('access_tokens', []))}
            return self.answer(200, json.dumps(state), {'Content-Type': 'application/json'})
        if path == '/__provider/script' and self.command == 'POST':
            script = json.loads(body)
            STORE.scripts[script['path']] = script['answers']
            return self.answer(204)
        if path == '/__provider/decline-next' and self.command == 'POST':
            STORE.decline_next = True
            return self.answer(204)
        if path == '/oauth/request_token':
            return self.token_leg(REQUEST_TOKENS.create_request_token_response, uri, body, headers)
        if path == '/oauth/access_token':
            return self.token_leg(ACCESS_TOKENS.create_access_token_response, uri, body, headers)
        if path == '/oauth/authorize':
            return self.authorize(uri, headers)
        return self.resource(uri, path, body, headers)

    def refuse(self, status, problem, advice=''):
        STORE.refused.append({'method': self.command, 'path': self.path, 'problem': problem, 'advice': advice})
        fields = {'oauth_problem': problem, **({'oauth_problem_advice': advice} if advice else {})}
        self.form(status, fields, {'WWW-Authenticate': 'OAuth realm="oauth1-test-provider"'} if status == 401 else None)

    def token_leg(self, create_response, uri, body, headers):
        response_headers, response_body, status = create_response(uri, http_method=self.command, body=body, headers=headers)
        if status == 200:
            STORE.accepted.append(accepted_entry(self.command, self.path, Kept.last))
            return self.answer(200, response_body, response_headers)
        if response_body:  # an OAuth1Error: oauthlib's own error and description (400 for a malformed request)
            advice = parse_qs(response_body).get('error_description', [''])[0]
            STORE.refused.append({'method': self.command, 'path': self.path, 'problem': malformed_problem(advice), 'advice': advice})
            return self.answer(status, response_body, response_headers)
        self.refuse(status, problem_of(Kept.last))

    def authorize(self, uri, headers):
        try:
            realms, _ = AUTHORIZATION.get_realms_and_credentials(uri, http_method=self.command, headers=headers)
            if STORE.decline_next:
                STORE.decline_next = False
                token = parse_qs(urlsplit(uri).query)['oauth_token'][0]
                callback = STORE.request_tokens.pop(token)['callback']
                separator = '&' if '?' in callback else '?'
                return self.answer(302, b'', {'Location': f'{callback}{separator}denied=1'})
            response_headers, response_body, status = AUTHORIZATION.create_authorization_response(uri, http_method=self.command, headers=headers, realms=realms)
            self.answer(status, response_body or b'', response_headers)
        except errors.OAuth1Error as error:
            self.refuse(error.status_code, 'token_rejected', description_of(error) or error.error)

    def resource(self, uri, path, body, headers):
        try:
            # Run oauthlib's parsing first only to say why a malformed request is refused; the verdict is below.
            parsed = RESOURCES._create_request(uri, self.command, body, headers)
            RESOURCES._check_mandatory_parameters(parsed)
        except errors.OAuth1Error as error:
            return self.refuse(400, malformed_problem(description_of(error), error), description_of(error))
        except ValueError as error:
            return self.refuse(400, 'parameter_rejected', str(error))
        valid, request = RESOURCES.validate_protected_resource_request(uri, http_method=self.command, body=body, headers=headers, realms=[])
        if not valid:
            return self.refuse(401, problem_of(request))
        STORE.accepted.append(accepted_entry(self.command, self.path, request))
        scripted = STORE.scripts.get(path) or []
        if scripted:
            next_answer = scripted.pop(0)
            return self.answer(next_answer['status'], next_answer.get('body', ''), next_answer.get('headers', {}))
        echo = {'method': self.command, 'url': self.path, 'content_type': self.headers.get('Content-Type'), 'body': body,
                'params': accepted_entry(self.command, self.path, request)['params'], 'signature_method': request.signature_method,
                'consumer_key': request.client_key, 'token': request.resource_owner_key}
        self.answer(200, json.dumps(echo), {'Content-Type': 'application/json'})


def exit_when_stdin_closes():
    sys.stdin.read()
    SERVER.shutdown()


SERVER = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
SERVER.daemon_threads = True
print(json.dumps({'port': SERVER.server_port}), flush=True)
threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
SERVER.serve_forever()
