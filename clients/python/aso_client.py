#!/usr/bin/env python3
"""ASO client for grid jobs: one file, Python >= 3.6, standard library only.

As a script (the same exit codes as the `aso` CLI: 0 ok, 1 some work failed, 2 timeout,
3 usage, configuration, connection or authentication):

    aso_client.py inject FILE.jsonl        # or - for standard input; exit 1 if a line was rejected
    aso_client.py wait --task T --timeout 6h
    aso_client.py status [--task T] [--json]
    aso_client.py list [--task T] [--state FAILED] [--json]
    aso_client.py whoami

The server is `--server` or `$ASO_SERVER`. The credential, in this order (the Node client's order too):
explicit options (`--token-file`, `--cert`/`--key`, `--proxy`); a bearer token by WLCG discovery
(`$BEARER_TOKEN`, `$BEARER_TOKEN_FILE`, `$XDG_RUNTIME_DIR/bt_u<uid>`, `/tmp/bt_u<uid>`); the X.509 proxy
(`$X509_USER_PROXY`, else `/tmp/x509up_u<uid>`); the user certificate (`$X509_USER_CERT`/`$X509_USER_KEY`,
else `~/.globus/usercert.pem`/`userkey.pem`). The server's certificate is checked against `--ca-dir`,
`$X509_CERT_DIR`, else `/etc/grid-security/certificates`.

As a module:

    import aso_client
    client = aso_client.Client()                      # $ASO_SERVER, credentials discovered
    ok, results = client.inject([request, ...])
    summary = client.wait_for_task('mytask', aso_client.parse_duration('6h'))

and `verify_webhook(secret, headers, body)` checks the Standard Webhooks signature of ASO's callbacks.
"""

import argparse
import base64
import getpass
import hashlib
import hmac
import http.client
import json
import math
import os
import re
import socket
import ssl
import sys
import time
import zlib
from urllib.parse import quote, urlencode, urlsplit

__version__ = '0.1.0'

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_TIMEOUT = 2
EXIT_USAGE = 3

DEFAULT_CA_DIR = '/etc/grid-security/certificates'
#: requests per POST, the server's limit
MAX_BATCH = 10000
#: long-polls ask for this much at a time; the server caps it at 5 minutes
WAIT_SLICE_MS = 60000
DEFAULT_WAIT_TIMEOUT = '1h'
TRANSFER_STATES = ('NEW', 'SUBMITTING', 'SUBMITTED', 'RETRY', 'KILLING', 'DONE', 'FAILED', 'KILLED')

_CREDENTIAL_ADVICE = ('make a proxy (voms-proxy-init), get a token (e.g. into $BEARER_TOKEN_FILE), '
                      'or give --token-file, --proxy or --cert/--key')


class AsoError(Exception):
    """A failure whose message says what to do. `code` is the API's (unavailable, unauthenticated,
    forbidden, not-found, invalid-request, usage, timeout, ...); `status` the HTTP status, if any."""

    def __init__(self, code, message, status=None):
        Exception.__init__(self, message)
        self.code = code
        self.message = message
        self.status = status

    @property
    def exit_code(self):
        return EXIT_TIMEOUT if self.code == 'timeout' else EXIT_USAGE


# ---------------------------------------------------------------------------------------------------------
# durations


_UNIT_MS = {'ms': 1, 's': 1000, 'm': 60000, 'h': 3600000, 'd': 86400000}
_DURATION = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$')
_SECONDS = re.compile(r'^\d+(?:\.\d+)?$')


def _round(x):
    """JavaScript's Math.round (half up), which the CLI uses."""
    return int(math.floor(x + 0.5))


def parse_duration(value, field='duration'):
    """Milliseconds of `30s`, `5m`, `6h`, `14d`, `250ms`, or a number of seconds (a number or digits)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise AsoError('usage', '{}: must be >= 0'.format(field))
        return _round(value * 1000)
    text = str(value)
    if _SECONDS.match(text):
        return _round(float(text) * 1000)
    m = _DURATION.match(text)
    if not m:
        raise AsoError('usage', '{}: "{}" is not a duration; write e.g. 30s, 5m, 2h or 14d'.format(field, text))
    return _round(float(m.group(1)) * _UNIT_MS[m.group(2)])


def format_duration(ms):
    """`850ms`, `12s`, `3m20s`, `2h5m`, `3d4h`: as the CLI prints durations."""
    if ms < 1000:
        return '{}ms'.format(_round(ms))
    s = _round(ms / 1000.0)
    if s < 60:
        return '{}s'.format(s)
    m = s // 60
    if m < 60:
        return '{}m{}s'.format(m, s % 60) if s % 60 else '{}m'.format(m)
    h = m // 60
    if h < 24:
        return '{}h{}m'.format(h, m % 60) if m % 60 else '{}h'.format(h)
    d = h // 24
    return '{}d{}h'.format(d, h % 24) if h % 24 else '{}d'.format(d)


def adler32_of(path):
    """The adler32 of a file as ASO wants it: 8 lowercase hex digits."""
    value = 1
    with open(path, 'rb') as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                break
            value = zlib.adler32(block, value)
    return '{:08x}'.format(value & 0xffffffff)


# ---------------------------------------------------------------------------------------------------------
# credentials


def _set(value):
    return value is not None and value != ''


def _read_if_there(path, what):
    """A file's text, or None when it does not exist; other failures (permissions) name the file."""
    try:
        with open(path, 'r') as f:
            return f.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise AsoError('unauthenticated', 'cannot read the {} {}: {}'.format(what, path, e))


def discover_credential(token_file=None, cert=None, key=None, proxy=None, env=None, uid=None, home=None,
                        tmp_dir='/tmp'):
    """The credential to present, as a dict: {'kind': 'token', 'token', 'from'[, 'path']},
    {'kind': 'proxy', 'path', 'from'} or {'kind': 'certificate', 'cert', 'key', 'from'}.

    The order: explicit options; a WLCG bearer token; the proxy; the user certificate (see the module's
    documentation). A missing token file or an empty token means the next place; $X509_USER_PROXY and
    $X509_USER_CERT/$X509_USER_KEY are taken at their word. Raises AsoError naming every place tried."""
    env = os.environ if env is None else env
    uid = os.getuid() if uid is None else uid
    if home is None:
        home = env.get('HOME') or os.path.expanduser('~')

    if token_file is not None:
        text = _read_if_there(token_file, 'token file')
        if text is None:
            raise AsoError('unauthenticated', 'the token file {} does not exist'.format(token_file))
        if text.strip() == '':
            raise AsoError('unauthenticated', 'the token file {} is empty: get a new token'.format(token_file))
        return {'kind': 'token', 'token': text.strip(), 'from': '--token-file', 'path': token_file}
    if cert is not None or key is not None:
        if cert is None or key is None:
            raise AsoError('usage', '--cert and --key go together: give both, or use --proxy')
        return {'kind': 'certificate', 'cert': cert, 'key': key, 'from': '--cert/--key'}
    if proxy is not None:
        return {'kind': 'proxy', 'path': proxy, 'from': '--proxy'}

    tried = []
    bearer = (env.get('BEARER_TOKEN') or '').strip()
    if bearer:
        return {'kind': 'token', 'token': bearer, 'from': '$BEARER_TOKEN'}
    tried.append('$BEARER_TOKEN')
    token_files = []
    if _set(env.get('BEARER_TOKEN_FILE')):
        token_files.append((env['BEARER_TOKEN_FILE'], '$BEARER_TOKEN_FILE'))
    if _set(env.get('XDG_RUNTIME_DIR')):
        token_files.append((os.path.join(env['XDG_RUNTIME_DIR'], 'bt_u{}'.format(uid)),
                            '$XDG_RUNTIME_DIR/bt_u<uid>'))
    token_files.append((os.path.join(tmp_dir, 'bt_u{}'.format(uid)), '/tmp/bt_u<uid>'))
    for path, source in token_files:
        token = (_read_if_there(path, 'bearer token file') or '').strip()
        if token:
            return {'kind': 'token', 'token': token, 'from': source, 'path': path}
        tried.append(path)

    if _set(env.get('X509_USER_PROXY')):
        return {'kind': 'proxy', 'path': env['X509_USER_PROXY'], 'from': '$X509_USER_PROXY'}
    default_proxy = os.path.join(tmp_dir, 'x509up_u{}'.format(uid))
    if os.path.exists(default_proxy):
        return {'kind': 'proxy', 'path': default_proxy, 'from': '/tmp/x509up_u<uid>'}
    tried.append(default_proxy)

    globus_cert = os.path.join(home, '.globus', 'usercert.pem')
    globus_key = os.path.join(home, '.globus', 'userkey.pem')
    if _set(env.get('X509_USER_CERT')) or _set(env.get('X509_USER_KEY')):
        return {'kind': 'certificate', 'cert': env.get('X509_USER_CERT') or globus_cert,
                'key': env.get('X509_USER_KEY') or globus_key, 'from': '$X509_USER_CERT/$X509_USER_KEY'}
    if os.path.exists(globus_cert):
        return {'kind': 'certificate', 'cert': globus_cert, 'key': globus_key, 'from': '~/.globus'}
    tried.append(globus_cert)
    raise AsoError('unauthenticated', 'no credential found (tried {}): {}'.format(', '.join(tried),
                                                                                  _CREDENTIAL_ADVICE))


def ca_dir_of(ca_dir=None, env=None):
    """(directory, where it came from): --ca-dir, $X509_CERT_DIR, else /etc/grid-security/certificates."""
    env = os.environ if env is None else env
    if ca_dir is not None:
        return ca_dir, '--ca-dir'
    if _set(env.get('X509_CERT_DIR')):
        return env['X509_CERT_DIR'], 'X509_CERT_DIR'
    return DEFAULT_CA_DIR, 'the default; set X509_CERT_DIR'


_HASH_NAME = re.compile(r'^[0-9a-f]{8}\.\d+$')
_PEM_CERT = re.compile(r'-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----', re.S)


def _ssl_context(ca_dir, ca_from, credential):
    if not os.path.isdir(ca_dir):
        raise AsoError('unavailable', 'the CA directory {} ({}) does not exist: set X509_CERT_DIR (or --ca-dir) '
                                      'to the directory of the grid CAs'.format(ca_dir, ca_from))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = True
    ctx.load_verify_locations(capath=ca_dir)
    names = os.listdir(ca_dir)
    if not any(_HASH_NAME.match(n) for n in names):
        # a directory without OpenSSL's hash links (c_rehash): its PEM files, read one by one
        pems = []
        for n in sorted(names):
            if n.endswith(('.pem', '.crt')):
                text = _read_if_there(os.path.join(ca_dir, n), 'CA file') or ''
                pems.extend(_PEM_CERT.findall(text))
        if pems:
            ctx.load_verify_locations(cadata='\n'.join(pems))
    if credential is None or credential['kind'] == 'token':
        return ctx
    if credential['kind'] == 'proxy':
        cert = key = credential['path']
        if not os.path.exists(cert):
            raise AsoError('unauthenticated', 'X.509 proxy file {} ({}) does not exist: run voms-proxy-init to '
                                              'make a new proxy (or point X509_USER_PROXY to a valid one)'
                           .format(cert, credential['from']))
    else:
        cert, key = credential['cert'], credential['key']
    password = None
    key_text = _read_if_there(key, 'key ({})'.format(credential['from']))
    if key_text is None:
        raise AsoError('unauthenticated', 'the key {} ({}) does not exist'.format(key, credential['from']))
    if 'ENCRYPTED' in key_text:
        if not sys.stdin.isatty():
            raise AsoError('unauthenticated', 'the key {} is protected by a passphrase: make a proxy with '
                                              'voms-proxy-init and use it (X509_USER_PROXY or --proxy)'.format(key))

        def password():
            return getpass.getpass('passphrase of {}: '.format(key))
    try:
        ctx.load_cert_chain(cert, key, password=password)
    except (ssl.SSLError, OSError) as e:
        raise AsoError('unauthenticated', 'cannot use the credential {} ({}): {}'.format(
            cert, credential['from'], e))
    return ctx


# ---------------------------------------------------------------------------------------------------------
# the client


class Client(object):
    """The ASO API (`/api/v1`) over HTTPS with a grid certificate, proxy or bearer token, or plain HTTP
    (`aso serve --insecure-dev`, identity from $ASO_USER). Every failure is an AsoError."""

    def __init__(self, server=None, token_file=None, cert=None, key=None, proxy=None, ca_dir=None, env=None,
                 uid=None, home=None, tmp_dir='/tmp', timeout=60.0):
        env = os.environ if env is None else env
        server = server or env.get('ASO_SERVER')
        if not server:
            raise AsoError('usage', 'no server: give --server URL or set ASO_SERVER')
        self.server = server.rstrip('/')
        url = urlsplit(self.server)
        if url.scheme not in ('http', 'https') or not url.hostname:
            raise AsoError('usage', 'the server {} is not an http(s) URL'.format(self.server))
        self._scheme = url.scheme
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == 'https' else 80)
        self._base = url.path.rstrip('/')
        self.timeout = timeout
        self.headers = {'Accept': 'application/json', 'User-Agent': 'aso-python/' + __version__}
        self.credential = None
        self._context = None
        if url.scheme == 'http':
            self.headers['X-ASO-User'] = env.get('ASO_USER') or getpass.getuser()
            return
        self.ca_dir, self._ca_from = ca_dir_of(ca_dir, env)
        self.credential = discover_credential(token_file=token_file, cert=cert, key=key, proxy=proxy, env=env,
                                              uid=uid, home=home, tmp_dir=tmp_dir)
        if self.credential['kind'] == 'token':
            self.headers['Authorization'] = 'Bearer ' + self.credential['token']
        self._context = _ssl_context(self.ca_dir, self._ca_from, self.credential)

    # -- transport

    def _connection(self, timeout):
        if self._scheme == 'https':
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout, context=self._context)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _connection_error(self, e):
        text = str(e)
        if isinstance(e, ssl.CertificateError) or (isinstance(e, ssl.SSLError) and (
                'CERTIFICATE_VERIFY_FAILED' in text or
                isinstance(e, getattr(ssl, 'SSLCertVerificationError', ())))):
            if 'ostname' in text or "doesn't match" in text:
                hint = ('the server certificate is not for {}: use the name in its certificate'
                        .format(self._host))
            else:
                hint = ('the server certificate could not be verified against the CAs in {} ({}): set '
                        'X509_CERT_DIR (or --ca-dir) to the directory of the grid CAs'
                        .format(self.ca_dir, self._ca_from))
        elif isinstance(e, ssl.SSLError):
            hint = 'the TLS handshake failed: is the client credential accepted by the server?'
        elif isinstance(e, ConnectionRefusedError):
            hint = 'nothing listens there; is aso serve running?'
        elif isinstance(e, socket.timeout):
            hint = 'no answer in time'
        else:
            hint = None
        return AsoError('unavailable', 'cannot reach ASO at {}: {}{}'.format(
            self.server, text or type(e).__name__, ': ' + hint if hint else ''))

    def _http_error(self, status, body):
        detail = body.get('error') if isinstance(body, dict) and isinstance(body.get('error'), dict) else {}
        message = detail.get('message') or 'HTTP {}'.format(status)
        if status >= 500:
            return AsoError('unavailable', 'the ASO server {} failed (HTTP {}): {}'.format(
                self.server, status, message), status)
        return AsoError(detail.get('code') or 'invalid-request', message, status)

    def request(self, method, path, query=None, body=None, ok_statuses=(), timeout=None):
        """(status, parsed JSON) of one call; statuses other than 2xx and `ok_statuses` raise AsoError."""
        target = self._base + path
        if query:
            pairs = [(k, v) for k, v in query.items() if v is not None]
            if pairs:
                target += '?' + urlencode(pairs)
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode('utf-8')
            headers['Content-Type'] = 'application/json'
        conn = self._connection(self.timeout if timeout is None else timeout)
        try:
            try:
                conn.request(method, target, body=data, headers=headers)
                res = conn.getresponse()
                raw = res.read()
            except (OSError, http.client.HTTPException, ssl.CertificateError) as e:
                # ssl.CertificateError: a hostname mismatch on Python 3.6 (an SSLError from 3.7 on)
                raise self._connection_error(e)
        finally:
            conn.close()
        try:
            parsed = json.loads(raw.decode('utf-8')) if raw else None
        except ValueError as e:
            raise AsoError('unavailable', '{} answered HTTP {} with something that is not JSON ({}): is it an '
                                          'ASO server?'.format(self.server, res.status, e), res.status)
        if 200 <= res.status < 300 or res.status in ok_statuses:
            return res.status, parsed
        raise self._http_error(res.status, parsed)

    # -- the API

    def inject(self, requests):
        """Stores transfer requests (at most MAX_BATCH): (ok, results), one result per request, in order;
        `ok` when any was accepted. A result is {'id', 'status': created|unchanged|superseded|rejected,
        'error'?, 'errors'?}."""
        status, body = self.request('POST', '/api/v1/transfers', body=list(requests), ok_statuses=(400,))
        if status == 400 and not (isinstance(body, dict) and isinstance(body.get('results'), list)):
            raise self._http_error(status, body)
        return status == 200, body['results']

    def inject_all(self, requests):
        """inject() in batches of MAX_BATCH: every result, in order."""
        requests = list(requests)
        results = []
        for i in range(0, len(requests), MAX_BATCH):
            results.extend(self.inject(requests[i:i + MAX_BATCH])[1])
        return results

    def status(self, user=None, task=None):
        """Counts per state, per link and per user."""
        return self.request('GET', '/api/v1/status', query={'user': user, 'task': task})[1]

    def list_page(self, **filters):
        """One page of GET /api/v1/transfers: {'items': [...], 'next': cursor or None}. Filters: user, task,
        state, source, destination, class_ (failure class), updatedSince, cursor, limit (1-1000)."""
        if 'class_' in filters:
            filters['class'] = filters.pop('class_')
        return self.request('GET', '/api/v1/transfers', query=filters)[1]

    def list(self, limit=None, **filters):
        """Every transfer record matching the filters (or the first `limit`), page after page."""
        seen = 0
        cursor = None
        while True:
            page_size = 1000 if limit is None else max(1, min(1000, limit - seen))
            page = self.list_page(cursor=cursor, limit=page_size, **filters)
            for item in page['items']:
                if limit is not None and seen >= limit:
                    return
                seen += 1
                yield item
            cursor = page.get('next')
            if not cursor or (limit is not None and seen >= limit):
                return

    def task(self, task):
        """Where a task's files are: the task summary (`complete`, `states`, `failures`, ...)."""
        return self.request('GET', '/api/v1/tasks/' + quote(task, safe=''))[1]

    def wait_once(self, task, timeout_ms):
        """One long-poll: answers when every file of the task is terminal, or after timeout_ms (<= 5 min)."""
        timeout_ms = max(0, _round(timeout_ms))
        return self.request('GET', '/api/v1/tasks/{}/wait'.format(quote(task, safe='')),
                            query={'timeout': '{}ms'.format(timeout_ms)},
                            timeout=timeout_ms / 1000.0 + self.timeout)[1]

    def wait_for_task(self, task, timeout_ms):
        """Long-polls until every file of the task is terminal or timeout_ms passes (then `complete` is
        False). Once the server has answered, a connection lost later (a restart) is retried until then."""
        deadline = time.monotonic() + timeout_ms / 1000.0
        last = None
        while True:
            left_ms = (deadline - time.monotonic()) * 1000.0
            try:
                last = self.wait_once(task, max(0.0, min(left_ms, WAIT_SLICE_MS)))
            except AsoError as e:
                if e.code != 'unavailable' or last is None or left_ms <= 0:
                    raise
                time.sleep(min(2.0, max(0.0, left_ms / 1000.0)))
                continue
            if last['complete'] or time.monotonic() >= deadline:
                return last

    def whoami(self):
        return self.request('GET', '/api/v1/whoami')[1]


# ---------------------------------------------------------------------------------------------------------
# webhooks


class WebhookVerificationError(Exception):
    pass


def webhook_key(secret):
    """The HMAC key of a webhook secret: `whsec_<base64>` is the decoded bytes, any other secret its UTF-8."""
    if isinstance(secret, bytes):
        return secret
    if secret.startswith('whsec_'):
        try:
            return base64.b64decode(secret[len('whsec_'):], validate=True)
        except ValueError:
            raise WebhookVerificationError('the secret is not whsec_ followed by base64')
    return secret.encode('utf-8')


def verify_webhook(secret, headers, body, tolerance=300, now=None):
    """Checks a callback from ASO, signed in the Standard Webhooks form: `webhook-signature` holds
    `v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">`, and the timestamp is within
    `tolerance` seconds of now. `body` is the raw body (bytes or str) as received; `headers` any mapping
    (names in any case). Returns the parsed JSON payload; raises WebhookVerificationError."""
    lower = {}
    for name, value in dict(headers).items():
        lower[name.lower()] = value
    msg_id = lower.get('webhook-id')
    stamp = lower.get('webhook-timestamp')
    signatures = lower.get('webhook-signature')
    if not msg_id or not stamp or not signatures:
        raise WebhookVerificationError('missing webhook-id, webhook-timestamp or webhook-signature')
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError('webhook-timestamp is not a number of seconds')
    now = time.time() if now is None else now
    if timestamp < now - tolerance:
        raise WebhookVerificationError('the message is too old (webhook-timestamp {})'.format(timestamp))
    if timestamp > now + tolerance:
        raise WebhookVerificationError('the message is from the future (webhook-timestamp {})'.format(timestamp))
    raw = body if isinstance(body, bytes) else body.encode('utf-8')
    signed = msg_id.encode('utf-8') + b'.' + str(timestamp).encode('ascii') + b'.' + raw
    expected = base64.b64encode(hmac.new(webhook_key(secret), signed, hashlib.sha256).digest()).decode('ascii')
    for part in signatures.split():
        version, _, value = part.partition(',')
        if version == 'v1' and hmac.compare_digest(value.encode('ascii', 'replace'), expected.encode('ascii')):
            return json.loads(raw.decode('utf-8'))
    raise WebhookVerificationError('no matching signature')


# ---------------------------------------------------------------------------------------------------------
# the command line


def _bytes(n):
    if n < 1024:
        return '{} B'.format(n)
    units = ['KiB', 'MiB', 'GiB', 'TiB']
    v = n / 1024.0
    i = 0
    while v >= 1024 and i < len(units) - 1:
        v /= 1024.0
        i += 1
    return '{:.{}f} {}'.format(v, 1 if v < 10 else 0, units[i])


def _state_line(states):
    return '  '.join('{} {}'.format(s, states[s]) for s in TRANSFER_STATES if states.get(s))


def _table(head, rows):
    cells = [[str(c) for c in head]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    return '\n'.join('  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def _out(text):
    sys.stdout.write(text + '\n')


def _err(text):
    sys.stderr.write('aso: ' + text + '\n')


def _lines(source):
    if source == '-':
        return sys.stdin
    try:
        return open(source, 'r', encoding='utf-8')
    except OSError as e:
        raise AsoError('usage', 'cannot read {}: {}'.format(source, e.strerror or e))


def cmd_inject(client, args):
    results = []
    batch = []

    def flush():
        if batch:
            for (line, _), r in zip(batch, client.inject([raw for _, raw in batch])[1]):
                r = dict(r)
                r['line'] = line
                results.append(r)
            del batch[:]

    stream = _lines(args.file)
    try:
        for n, text in enumerate(stream, 1):
            if text.strip() == '' or text.lstrip().startswith('#'):
                continue
            try:
                raw = json.loads(text)
            except ValueError as e:
                error = {'field': '(line)', 'message': 'not valid JSON: {}'.format(e)}
                results.append({'line': n, 'id': None, 'status': 'rejected', 'error': error, 'errors': [error]})
                continue
            batch.append((n, raw))
            if len(batch) >= MAX_BATCH:
                flush()
    finally:
        if stream is not sys.stdin:
            stream.close()
    flush()
    results.sort(key=lambda r: r['line'])
    for r in results:
        if args.json:
            _out(json.dumps(r))
        elif r['status'] == 'rejected':
            errors = r.get('errors') or ([r['error']] if r.get('error') else [])
            _out('line {}: rejected: {}'.format(r['line'], '; '.join(
                '{}: {}'.format(e['field'], e['message']) for e in errors)))
        else:
            _out('line {}: {} {}'.format(r['line'], r['status'], r['id']))
    rejected = sum(1 for r in results if r['status'] == 'rejected')
    if not args.json:
        def count(s):
            return sum(1 for r in results if r['status'] == s)
        sys.stderr.write('{} lines: {} created, {} unchanged, {} superseded, {} rejected\n'.format(
            len(results), count('created'), count('unchanged'), count('superseded'), rejected))
    return EXIT_SOME_FAILED if rejected else EXIT_OK


def cmd_wait(client, args):
    timeout_ms = parse_duration(args.timeout, '--timeout')
    started = time.monotonic()
    summary = client.task(args.task)
    if not summary['complete']:
        _err('waiting for task {}: {} of {} files terminal ({})'.format(
            summary['task'], summary['terminal'], summary['total'], _state_line(summary['states'])))
        sys.stderr.flush()
        left = timeout_ms - (time.monotonic() - started) * 1000.0
        summary = client.wait_for_task(args.task, max(0.0, left))
    failed = summary['states'].get('FAILED', 0) + summary['states'].get('KILLED', 0)
    result = 'timeout' if not summary['complete'] else 'failed' if failed else 'done'
    if args.json:
        out = {'result': result}
        out.update(summary)
        _out(json.dumps(out))
    else:
        _out('task {}: {} files, {}: {}'.format(summary['task'], summary['total'],
                                               _bytes(summary['bytes']['total']), _state_line(summary['states'])))
        for f in summary['failures']:
            _out('  {}{} x{}: {}'.format(f['state'], ' ({})'.format(f['failureClass']) if f.get('failureClass')
                                         else '', f['n'], f['reason']))
    if result == 'timeout':
        _err('timed out after {}: {} of {} files of task {} are terminal; wait again to keep waiting'.format(
            format_duration(timeout_ms), summary['terminal'], summary['total'], summary['task']))
        return EXIT_TIMEOUT
    return EXIT_SOME_FAILED if result == 'failed' else EXIT_OK


def cmd_status(client, args):
    report = client.status(user=args.user, task=args.task)
    if args.json:
        _out(json.dumps(report, indent=2))
        return EXIT_OK
    scope = 'task ' + args.task if args.task else 'user ' + args.user if args.user else 'all transfers'
    _out('{}: {} files, {}'.format(scope, report['total'], _bytes(sum(report['bytes'].values()))))
    _out(_state_line(report['states']) or 'nothing yet')
    used = [s for s in TRANSFER_STATES if report['states'].get(s)]
    if report['links']:
        _out('\n' + _table(['link'] + used, [[l['link']] + [l['states'].get(s, 0) for s in used]
                                            for l in report['links']]))
    if len(report['users']) > 1:
        _out('\n' + _table(['user'] + used, [[u['user']] + [u['states'].get(s, 0) for s in used]
                                            for u in report['users']]))
    return EXIT_OK


def cmd_list(client, args):
    filters = {}
    for name in ('user', 'task', 'state', 'source', 'destination'):
        if getattr(args, name) is not None:
            filters[name] = getattr(args, name)
    if args.failure_class is not None:
        filters['class_'] = args.failure_class
    for r in client.list(limit=args.limit, **filters):
        if args.json:
            _out(json.dumps(r))
        else:
            why = ' {}: {}'.format(r['failureClass'], r['failureReason']) if r.get('failureReason') else ''
            _out('{} {} {}->{} {}{}'.format(r['id'], r['state'], r['source'], r['destination'],
                                           r['destinationLfn'], why))
    return EXIT_OK


def cmd_whoami(client, args):
    me = client.whoami()
    if args.json:
        _out(json.dumps(me))
    else:
        _out('{} ({}, by {}{})'.format(me['name'], me['role'], me['method'],
                                       ' ' + me['dn'] if me.get('dn') else ''))
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 3, as the CLI's."""

    def error(self, message):
        self.print_usage(sys.stderr)
        _err(message)
        sys.exit(EXIT_USAGE)


def _global_options(p, suppress):
    d = argparse.SUPPRESS if suppress else None
    p.add_argument('--server', default=d, help='the ASO server (default: $ASO_SERVER)')
    p.add_argument('--token-file', default=d, help='bearer token file (default: WLCG discovery: $BEARER_TOKEN, '
                                                   '$BEARER_TOKEN_FILE, $XDG_RUNTIME_DIR/bt_u<uid>, /tmp/bt_u<uid>)')
    p.add_argument('--cert', default=d, help='client certificate (with --key) (default, after the proxy: '
                                             '$X509_USER_CERT, else ~/.globus/usercert.pem)')
    p.add_argument('--key', default=d, help='private key of --cert')
    p.add_argument('--proxy', default=d, help='X.509 proxy (default, when no token is found: $X509_USER_PROXY, '
                                              'else /tmp/x509up_u<uid>)')
    p.add_argument('--ca-dir', default=d, help='CAs the server certificate is checked against (default: '
                                               '$X509_CERT_DIR, else /etc/grid-security/certificates)')
    p.add_argument('--debug', action='store_true', default=d, help='print tracebacks')


def _parser():
    p = _Parser(prog='aso_client.py', description='ASO client for jobs: inject, wait, status, list. Exit codes: '
                                                  '0 ok, 1 some work failed, 2 timeout, 3 usage/connection/auth.')
    p.add_argument('--version', action='version', version=__version__)
    _global_options(p, False)
    sub = p.add_subparsers(dest='command', parser_class=_Parser)

    def command(name, help_text):
        c = sub.add_parser(name, help=help_text, description=help_text)
        _global_options(c, True)
        return c

    c = command('inject', 'store transfer requests, one JSON object per line (exit 1 if any line was rejected)')
    c.add_argument('file', help='a .jsonl file, or - for standard input')
    c.add_argument('--json', action='store_true', help='print one JSON result per line')
    c.set_defaults(run=cmd_inject)
    c = command('wait', 'wait until every file of a task is terminal (exit 0 all DONE, 1 some FAILED/KILLED, '
                        '2 timeout)')
    c.add_argument('--task', required=True, help='the task to wait for')
    c.add_argument('--timeout', default=DEFAULT_WAIT_TIMEOUT, help='give up after this long, e.g. 30m, 6h '
                                                                   '(default 1h)')
    c.add_argument('--json', action='store_true', help='print the task summary as JSON')
    c.set_defaults(run=cmd_wait)
    c = command('status', 'counts per state, per link and per user')
    c.add_argument('--user')
    c.add_argument('--task')
    c.add_argument('--json', action='store_true', help='print JSON')
    c.set_defaults(run=cmd_status)
    c = command('list', 'transfer records, newest first (all pages, or --limit)')
    for name in ('user', 'task', 'source', 'destination'):
        c.add_argument('--' + name)
    c.add_argument('--state', choices=TRANSFER_STATES)
    c.add_argument('--class', dest='failure_class', help='failure class')
    c.add_argument('--limit', type=int, help='at most this many')
    c.add_argument('--json', action='store_true', help='print one JSON record per line')
    c.set_defaults(run=cmd_list)
    c = command('whoami', 'who the server takes you for (checks the credential)')
    c.add_argument('--json', action='store_true', help='print JSON')
    c.set_defaults(run=cmd_whoami)
    return p


def main(argv=None):
    """Runs the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    if not getattr(args, 'run', None):
        _parser().print_usage(sys.stderr)
        _err('name a command: inject, wait, status, list or whoami')
        return EXIT_USAGE
    try:
        client = Client(server=args.server, token_file=args.token_file, cert=args.cert, key=args.key,
                        proxy=args.proxy, ca_dir=args.ca_dir)
        return args.run(client, args)
    except AsoError as e:
        _err(e.message)
        if args.debug:
            import traceback
            traceback.print_exc()
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug or an unforeseen failure: one line, the traceback with --debug
        _err('{}: {}{}'.format(type(e).__name__, e, '' if args.debug else ' (run with --debug for details)'))
        if args.debug:
            import traceback
            traceback.print_exc()
        return EXIT_USAGE


if __name__ == '__main__':
    sys.exit(main())
