"""Unit tests of aso_client.py (standard library only): python3 -m unittest test_aso_client"""

import ast
import base64
import hashlib
import hmac
import io
import json
import os
import shutil
import sys
import tempfile
import time
import unittest
from contextlib import redirect_stderr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aso_client as aso  # noqa: E402

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'aso_client.py')
UID = 4242


class Source(unittest.TestCase):
    def test_python_36_syntax(self):
        with open(SOURCE) as f:
            ast.parse(f.read(), feature_version=(3, 6))

    def test_standard_library_only(self):
        names = getattr(sys, 'stdlib_module_names', None)
        if names is None:
            self.skipTest('sys.stdlib_module_names needs Python >= 3.10')
        with open(SOURCE) as f:
            tree = ast.parse(f.read())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(a.name.split('.')[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                imported.add(node.module.split('.')[0])
        self.assertEqual(sorted(imported - set(names)), [])


class Durations(unittest.TestCase):
    def test_parses_as_the_cli(self):
        cases = {'30s': 30000, '5m': 300000, '6h': 21600000, '14d': 1209600000, '250ms': 250, ' 2 h ': 7200000,
                 '1.5s': 1500, '90': 90000, '0.5': 500, '0s': 0}
        for text, ms in cases.items():
            self.assertEqual(aso.parse_duration(text), ms, text)
        self.assertEqual(aso.parse_duration(2.5), 2500)

    def test_refuses_what_is_not_a_duration(self):
        for bad in ('', '5 minutes', '-1s', '1w', 'h', '1e3s'):
            with self.assertRaises(aso.AsoError) as caught:
                aso.parse_duration(bad, '--timeout')
            self.assertEqual(caught.exception.code, 'usage')
            self.assertIn('--timeout: "{}" is not a duration'.format(bad), caught.exception.message)
            self.assertEqual(caught.exception.exit_code, 3)
        with self.assertRaises(aso.AsoError):
            aso.parse_duration(-1)

    def test_formats_as_the_cli(self):
        cases = {850: '850ms', 12000: '12s', 200000: '3m20s', 300000: '5m', 7500000: '2h5m', 7200000: '2h',
                 273600000: '3d4h', 86400000: '1d'}
        for ms, text in cases.items():
            self.assertEqual(aso.format_duration(ms), text)


class Adler32(unittest.TestCase):
    def test_eight_lowercase_hex_digits(self):
        d = tempfile.mkdtemp()
        try:
            p = os.path.join(d, 'f')
            with open(p, 'wb') as f:
                f.write(b'Wikipedia')
            self.assertEqual(aso.adler32_of(p), '11e60398')
            with open(p, 'wb'):
                pass
            self.assertEqual(aso.adler32_of(p), '00000001')
        finally:
            shutil.rmtree(d)


class Discovery(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp()
        self.home = os.path.join(self.root, 'home')
        self.tmp = os.path.join(self.root, 'tmp')
        self.xdg = os.path.join(self.root, 'run')
        for d in (os.path.join(self.home, '.globus'), self.tmp, self.xdg):
            os.makedirs(d)

    def tearDown(self):
        shutil.rmtree(self.root)

    def write(self, path, text):
        with open(path, 'w') as f:
            f.write(text)

    def find(self, env, **options):
        kw = {'env': env, 'uid': UID, 'home': self.home, 'tmp_dir': self.tmp}
        kw.update(options)
        return aso.discover_credential(**kw)

    def test_goes_down_the_order(self):
        j = os.path.join
        self.write(j(self.home, '.globus', 'usercert.pem'), 'C')
        self.write(j(self.tmp, 'x509up_u%d' % UID), 'P')
        self.write(j(self.tmp, 'bt_u%d' % UID), 'tmp-token\n')
        self.write(j(self.xdg, 'bt_u%d' % UID), ' xdg-token ')
        self.write(j(self.root, 'token'), 'file-token')
        env = {'BEARER_TOKEN': 'env-token', 'BEARER_TOKEN_FILE': j(self.root, 'token'), 'XDG_RUNTIME_DIR': self.xdg}
        self.assertEqual(self.find(env, proxy='/p'), {'kind': 'proxy', 'path': '/p', 'from': '--proxy'})
        self.assertEqual(self.find(env, cert='/c', key='/k', proxy='/p')['from'], '--cert/--key')
        found = self.find(env, token_file=j(self.root, 'token'), proxy='/p')
        self.assertEqual((found['token'], found['from']), ('file-token', '--token-file'))
        self.assertEqual(self.find(env), {'kind': 'token', 'token': 'env-token', 'from': '$BEARER_TOKEN'})
        env['BEARER_TOKEN'] = '  '
        self.assertEqual(self.find(env)['from'], '$BEARER_TOKEN_FILE')
        env['BEARER_TOKEN_FILE'] = j(self.root, 'missing')
        found = self.find(env)
        self.assertEqual((found['token'], found['from']), ('xdg-token', '$XDG_RUNTIME_DIR/bt_u<uid>'))
        del env['XDG_RUNTIME_DIR']
        found = self.find(env)
        self.assertEqual((found['token'], found['from']), ('tmp-token', '/tmp/bt_u<uid>'))
        self.write(j(self.tmp, 'bt_u%d' % UID), '\n')
        self.assertEqual(self.find(env), {'kind': 'proxy', 'path': j(self.tmp, 'x509up_u%d' % UID),
                                          'from': '/tmp/x509up_u<uid>'})
        env['X509_USER_PROXY'] = '/there'
        self.assertEqual(self.find(env), {'kind': 'proxy', 'path': '/there', 'from': '$X509_USER_PROXY'})
        self.assertEqual(self.find({'X509_USER_CERT': '/c', 'X509_USER_KEY': '/k'}, tmp_dir=self.home),
                         {'kind': 'certificate', 'cert': '/c', 'key': '/k', 'from': '$X509_USER_CERT/$X509_USER_KEY'})
        self.assertEqual(self.find({}, tmp_dir=self.home),
                         {'kind': 'certificate', 'cert': j(self.home, '.globus', 'usercert.pem'),
                          'key': j(self.home, '.globus', 'userkey.pem'), 'from': '~/.globus'})

    def test_names_every_place_tried(self):
        with self.assertRaises(aso.AsoError) as caught:
            self.find({'XDG_RUNTIME_DIR': self.xdg})
        e = caught.exception
        self.assertEqual((e.code, e.exit_code), ('unauthenticated', 3))
        self.assertIn('no credential found (tried $BEARER_TOKEN, {}, {}, {}, {})'.format(
            os.path.join(self.xdg, 'bt_u%d' % UID), os.path.join(self.tmp, 'bt_u%d' % UID),
            os.path.join(self.tmp, 'x509up_u%d' % UID), os.path.join(self.home, '.globus', 'usercert.pem')),
            e.message)

    def test_refuses_an_empty_token_file_and_a_lone_cert(self):
        self.write(os.path.join(self.root, 'empty'), ' \n')
        with self.assertRaises(aso.AsoError) as caught:
            self.find({}, token_file=os.path.join(self.root, 'empty'))
        self.assertIn('is empty: get a new token', caught.exception.message)
        with self.assertRaises(aso.AsoError) as caught:
            self.find({}, cert='/c')
        self.assertEqual(caught.exception.code, 'usage')

    def test_ca_directory(self):
        self.assertEqual(aso.ca_dir_of(None, {}), ('/etc/grid-security/certificates', 'the default; set X509_CERT_DIR'))
        self.assertEqual(aso.ca_dir_of(None, {'X509_CERT_DIR': '/x'}), ('/x', 'X509_CERT_DIR'))
        self.assertEqual(aso.ca_dir_of('/y', {'X509_CERT_DIR': '/x'}), ('/y', '--ca-dir'))
        with self.assertRaises(aso.AsoError) as caught:
            aso.Client('https://localhost:1', env={'X509_CERT_DIR': os.path.join(self.root, 'no'),
                                                   'BEARER_TOKEN': 't'})
        self.assertIn('(X509_CERT_DIR) does not exist: set X509_CERT_DIR', caught.exception.message)


class Credentials(unittest.TestCase):
    def test_refuses_a_key_protected_by_a_passphrase_without_a_terminal(self):
        d = tempfile.mkdtemp()
        saved = sys.stdin
        try:
            key = os.path.join(d, 'userkey.pem')
            with open(key, 'w') as f:
                f.write('-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n')
            sys.stdin = io.StringIO('')
            with self.assertRaises(aso.AsoError) as caught:
                aso.Client('https://localhost:1', env={'X509_CERT_DIR': d, 'X509_USER_CERT': key,
                                                       'X509_USER_KEY': key}, tmp_dir=d, home=d)
            self.assertEqual(caught.exception.message, 'the key {} is protected by a passphrase: make a proxy with '
                                                       'voms-proxy-init and use it (X509_USER_PROXY or --proxy)'
                             .format(key))
            with self.assertRaises(aso.AsoError) as caught:
                aso.Client('https://localhost:1', env={'X509_CERT_DIR': d, 'X509_USER_PROXY': os.path.join(d, 'x')},
                           tmp_dir=d, home=d)
            self.assertIn('does not exist: run voms-proxy-init', caught.exception.message)
        finally:
            sys.stdin = saved
            shutil.rmtree(d)


def sign(key, msg_id, timestamp, body):
    mac = hmac.new(key, '{}.{}.'.format(msg_id, timestamp).encode() + body.encode(), hashlib.sha256).digest()
    return 'v1,' + base64.b64encode(mac).decode()


class Webhooks(unittest.TestCase):
    body = '{"type":"transfer.terminal","id":"abc","lfn":"/store/user/\u00e9"}'

    def headers(self, key, stamp=None, msg_id='msg_1'):
        stamp = int(time.time()) if stamp is None else stamp
        return {'webhook-id': msg_id, 'webhook-timestamp': str(stamp),
                'webhook-signature': sign(key, msg_id, stamp, self.body)}

    def test_whsec_and_raw_secrets(self):
        raw_key = os.urandom(32)
        secret = 'whsec_' + base64.b64encode(raw_key).decode()
        self.assertEqual(aso.verify_webhook(secret, self.headers(raw_key), self.body)['id'], 'abc')
        self.assertEqual(aso.verify_webhook(secret, self.headers(raw_key), self.body.encode('utf-8'))['id'], 'abc')
        raw = 'p\u00e4ss-w\u00f6rd-0123456789'
        self.assertEqual(aso.verify_webhook(raw, self.headers(raw.encode('utf-8')), self.body)['id'], 'abc')

    def test_header_names_in_any_case_and_several_signatures(self):
        key = os.urandom(32)
        h = self.headers(key)
        mixed = {'Webhook-Id': h['webhook-id'], 'WEBHOOK-TIMESTAMP': h['webhook-timestamp'],
                 'Webhook-Signature': 'v1,AAAA ' + h['webhook-signature']}
        self.assertEqual(aso.verify_webhook(key, mixed, self.body)['type'], 'transfer.terminal')

    def test_refuses_tampering_replay_and_missing_headers(self):
        key = os.urandom(32)
        now = int(time.time())
        cases = [
            (self.headers(key), self.body.replace('abc', 'abd'), 'no matching signature'),
            (dict(self.headers(key), **{'webhook-id': 'msg_2'}), self.body, 'no matching signature'),
            (self.headers(os.urandom(32)), self.body, 'no matching signature'),
            (self.headers(key, now - 301), self.body, 'too old'),
            (self.headers(key, now + 301), self.body, 'from the future'),
            ({'webhook-id': 'x'}, self.body, 'missing'),
            (dict(self.headers(key), **{'webhook-timestamp': 'soon'}), self.body, 'not a number'),
        ]
        for headers, body, why in cases:
            with self.assertRaises(aso.WebhookVerificationError) as caught:
                aso.verify_webhook(key, headers, body, now=now)
            self.assertIn(why, str(caught.exception))


class CommandLine(unittest.TestCase):
    def run_main(self, argv, env):
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        err = io.StringIO()
        try:
            with redirect_stderr(err):
                try:
                    code = aso.main(argv)
                except SystemExit as e:
                    code = e.code
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return code, err.getvalue()

    def test_usage_errors_exit_3(self):
        self.assertEqual(self.run_main(['wait'], {})[0], 3)
        self.assertEqual(self.run_main(['frobnicate'], {})[0], 3)
        self.assertEqual(self.run_main([], {})[0], 3)
        code, err = self.run_main(['status'], {})
        self.assertEqual((code, err.strip()), (3, 'aso: no server: give --server URL or set ASO_SERVER'))
        code, err = self.run_main(['--server', 'http://127.0.0.1:9', 'wait', '--task', 't', '--timeout', 'soon'],
                                  {'ASO_USER': 'alice'})
        self.assertEqual(code, 3)
        self.assertIn('--timeout: "soon" is not a duration', err)

    def test_options_before_or_after_the_command(self):
        args = aso._parser().parse_args(['--server', 'https://a', 'status', '--ca-dir', '/c'])
        self.assertEqual((args.server, args.ca_dir, args.proxy), ('https://a', '/c', None))
        args = aso._parser().parse_args(['wait', '--task', 't', '--server', 'https://b'])
        self.assertEqual((args.server, args.timeout), ('https://b', '1h'))

    def test_connection_refused_exits_3_with_a_hint(self):
        code, err = self.run_main(['--server', 'http://127.0.0.1:9', 'status'], {'ASO_USER': 'alice'})
        self.assertEqual(code, 3)
        self.assertIn('cannot reach ASO at http://127.0.0.1:9', err)


if __name__ == '__main__':
    unittest.main()
