import { mkdtemp } from 'node:fs/promises'
import { runChild } from '/work/main/src/engines/local/child-process.js'
import { putFile, startXrootdSite } from '/work/main/test/support/xrootd.js'

const base = await mkdtemp('/tmp/xr-')
const t0 = Date.now()
const A = await startXrootdSite({ name: 'A', baseDir: base })
const B = await startXrootdSite({ name: 'B', baseDir: base })
const C = await startXrootdSite({ name: 'C', baseDir: base, tpc: false })
console.log('started', Date.now() - t0)
await putFile(A, '/store/temp/user/alice.1234/f1', Buffer.from('hello world\n'))
const show = async (cmd: string, args: string[]) => {
  const r = await runChild(cmd, args)
  console.log('$', cmd, args.join(' '), '\n', JSON.stringify(r))
}
await show('xrdfs', [A.url, 'stat', '/store/temp/user/alice.1234/f1'])
await show('xrdfs', [A.url, 'stat', '/store/temp/user/alice.1234'])
await show('xrdfs', [A.url, 'stat', '/store/temp/user/alice.1234/nope'])
await show('xrdfs', [A.url, 'query', 'checksum', '/store/temp/user/alice.1234/f1'])
await show('xrdfs', [A.url, 'query', 'checksum', '/store/temp/user/alice.1234/nope'])
await show('xrdfs', [A.url, 'rm', '/store/temp/user/alice.1234/nope'])
await show('xrdfs', [A.url + '/', 'stat', '/store/temp/user/alice.1234/f1'])
await show('xrdcp', [
  '--nopbar',
  '--tpc',
  'only',
  '-f',
  '--cksum',
  'adler32:1234abcd',
  A.url + '//store/temp/user/alice.1234/f1',
  B.url + '//store/user/alice/f1',
])
await show('xrdfs', [B.url, 'stat', '/store/user/alice/f1'])
await show('xrdcp', [
  '--nopbar',
  '--tpc',
  'only',
  '-f',
  A.url + '//store/temp/user/alice.1234/nope',
  B.url + '//store/user/alice/f2',
])
await show('xrdcp', [
  '--nopbar',
  '--tpc',
  'only',
  '-f',
  A.url + '//store/temp/user/alice.1234/f1',
  C.url + '//store/user/alice/f2',
])
await show('xrdcp', [
  '--nopbar',
  '--tpc',
  'only',
  '-f',
  A.url + '//store/temp/user/alice.1234/f1',
  'root://127.0.0.1:1//store/user/alice/f2',
])
await show('xrdcp', ['--nopbar', '-f', A.url + '//store/temp/user/alice.1234/f1', '/nonexist/x/y'])
await show('xrdadler32', ['/etc/hostname'])
await show('nonexistent-cmd', [])
await A.stop()
await B.stop()
await C.stop()
